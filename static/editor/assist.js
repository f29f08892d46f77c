// The assistant's hooks into the editor: inline completion as ghost text (debounced after a
// typing pause, cancelled — down to the engine — by the next keystroke, Tab accepts,
// Ctrl+Right accepts a word, Esc dismisses, typing what it predicted keeps the rest), and
// syntax highlighting of chat code blocks with the editor's own parsers.

import { StateField, StateEffect, Prec } from "@codemirror/state";
import { EditorView, Decoration, WidgetType, ViewPlugin, keymap } from "@codemirror/view";
import { highlightCode, classHighlighter } from "@lezer/highlight";

const setGhost = StateEffect.define();

class GhostWidget extends WidgetType {
  constructor(text) { super(); this.text = text; }
  eq(other) { return other.text === this.text; }
  toDOM() {
    const span = document.createElement("span");
    span.className = "cm-ghost";
    span.setAttribute("aria-hidden", "true");
    span.textContent = this.text;
    return span;
  }
  ignoreEvent() { return true; }
}

/** The shown completion: `{ pos, text }` or null. Typing its first characters keeps the rest. */
export const ghostField = StateField.define({
  create() { return null; },
  update(ghost, tr) {
    for (const effect of tr.effects) if (effect.is(setGhost)) return effect.value;
    if (!ghost) return null;
    if (tr.docChanged) {
      let kept = null;
      let changes = 0;
      tr.changes.iterChanges((fromA, toA, fromB, toB, inserted) => {
        changes += 1;
        const typed = inserted.toString();
        if (fromA === ghost.pos && toA === fromA && typed && ghost.text.startsWith(typed) && typed.length < ghost.text.length) {
          kept = { pos: toB, text: ghost.text.slice(typed.length), reused: true };
        }
      });
      return changes === 1 ? kept : null;
    }
    if (tr.selection && tr.state.selection.main.head !== ghost.pos) return null;
    return ghost;
  },
  provide: (field) => EditorView.decorations.from(field, (ghost) => ghost
    ? Decoration.set([Decoration.widget({ widget: new GhostWidget(ghost.text), side: 1 }).range(ghost.pos)])
    : Decoration.none),
});

function accept(view, text) {
  const ghost = view.state.field(ghostField, false);
  if (!ghost) return false;
  const insert = text ?? ghost.text;
  view.dispatch({
    changes: { from: ghost.pos, insert },
    selection: { anchor: ghost.pos + insert.length },
    effects: setGhost.of(text && text.length < ghost.text.length ? { pos: ghost.pos + insert.length, text: ghost.text.slice(insert.length) } : null),
    userEvent: "input.complete",
  });
  return true;
}

const ghostKeys = Prec.highest(keymap.of([
  { key: "Tab", run: (view) => accept(view) },
  { key: "Escape", run: (view) => {
    if (!view.state.field(ghostField, false)) return false;
    view.dispatch({ effects: setGhost.of(null) });
    return true;
  } },
  { key: "Ctrl-ArrowRight", mac: "Alt-ArrowRight", run: (view) => {
    const ghost = view.state.field(ghostField, false);
    if (!ghost) return false;
    const word = /^(\s*[\w$]+|\s*[^\w\s]+|\s+)/.exec(ghost.text);
    return accept(view, word ? word[0] : ghost.text);
  } },
]));

/** Settings and the provider, set by the app: provider(path, prefix, suffix, signal, onPartial) →
 * Promise<string|null>; onPartial(text) shows the completion so far while it is written. */
export const completion = { provider: null, debounceMs: 350, enabled: true, onStatus() {}, pathOf: () => null };

const trigger = ViewPlugin.fromClass(class {
  constructor(view) { this.view = view; this.timer = null; this.abort = null; this.started = 0; }
  update(update) {
    const typed = update.transactions.some((tr) => tr.isUserEvent("input.type") || tr.isUserEvent("delete") || tr.isUserEvent("input.paste"));
    const ghost = update.state.field(ghostField, false);
    if (update.docChanged || update.selectionSet) this.cancel(ghost?.reused ? "reused" : "cancelled");
    if (typed && !ghost && completion.enabled && completion.provider) this.schedule();
  }
  cancel(why) {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.abort) {
      this.abort.abort();
      this.abort = null;
      completion.onStatus({ state: why, ms: performance.now() - this.started });
    }
  }
  schedule() {
    this.timer = setTimeout(() => this.request(), completion.debounceMs);
  }
  async request() {
    const view = this.view;
    const state = view.state;
    const pos = state.selection.main.head;
    if (!state.selection.main.empty) return;
    const prefix = state.doc.sliceString(Math.max(0, pos - 3000), pos);
    const suffix = state.doc.sliceString(pos, Math.min(state.doc.length, pos + 1000));
    const abort = new AbortController();
    this.abort = abort;
    this.started = performance.now();
    completion.onStatus({ state: "running" });
    let first = true;
    const onPartial = (partial) => {
      if (this.abort !== abort || !partial) return;
      if (view.state.doc !== state.doc || view.state.selection.main.head !== pos) return;
      view.dispatch({ effects: setGhost.of({ pos, text: partial, partial: true }) });
      if (first) {
        first = false;
        completion.onStatus({ state: "first", ms: performance.now() - this.started });
      }
    };
    let text = null;
    try {
      text = await completion.provider(completion.pathOf(), prefix, suffix, abort.signal, onPartial);
    } catch (error) {
      if (this.abort === abort) { this.abort = null; completion.onStatus({ state: "error", message: String(error?.message ?? error) }); }
      return;
    }
    if (this.abort !== abort) return; // cancelled meanwhile
    this.abort = null;
    const ms = performance.now() - this.started;
    if (!text || view.state.doc !== state.doc || view.state.selection.main.head !== pos) {
      if (view.state.field(ghostField, false)?.partial) view.dispatch({ effects: setGhost.of(null) });
      completion.onStatus({ state: "empty", ms });
      return;
    }
    view.dispatch({ effects: setGhost.of({ pos, text }) });
    completion.onStatus({ state: "shown", ms, chars: text.length });
  }
  destroy() { this.cancel("cancelled"); }
});

/** Editor extensions for inline completion. */
export function inlineCompletion() {
  return [ghostField, ghostKeys, trigger];
}

/** The shown ghost text of `view`, or null. */
export function ghostText(view) {
  return view.state.field(ghostField, false)?.text ?? null;
}

/** `code` highlighted by `language` (a CodeMirror LanguageSupport or Language) as HTML. */
export function highlight(code, language) {
  const escape = (text) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const parser = language?.language?.parser ?? language?.parser;
  if (!parser) return escape(code);
  let html = "";
  highlightCode(code, parser.parse(code), classHighlighter,
    (text, classes) => { html += classes ? `<span class="${classes}">${escape(text)}</span>` : escape(text); },
    () => { html += "\n"; });
  return html;
}
