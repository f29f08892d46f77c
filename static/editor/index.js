// Airlock's editor: CodeMirror 6, bundled offline by esbuild, driven by the Leptos app
// through the small `globalThis.airlockEditor` API below. One EditorView; one EditorState
// per open tab, so undo history and selection survive switching tabs.

import { EditorState, Compartment } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, dropCursor, rectangularSelection, crosshairCursor, highlightSpecialChars } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { bracketMatching, foldGutter, foldKeymap, indentOnInput, syntaxHighlighting,
  defaultHighlightStyle, StreamLanguage } from "@codemirror/language";
import { oneDark } from "@codemirror/theme-one-dark";
import { rust } from "@codemirror/lang-rust";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { cpp } from "@codemirror/lang-cpp";
import { json } from "@codemirror/lang-json";
import { markdown } from "@codemirror/lang-markdown";
import { yaml } from "@codemirror/lang-yaml";
import { toml } from "@codemirror/legacy-modes/mode/toml";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { inlineCompletion, completion, ghostText, highlight } from "./assist.js";

/** Language support by file name: [display name, extension factory]. */
const LANGUAGES = [
  [/\.rs$/i, "Rust", () => rust()],
  [/\.(py|pyi)$/i, "Python", () => python()],
  [/\.(ts|mts|cts)$/i, "TypeScript", () => javascript({ typescript: true })],
  [/\.tsx$/i, "TSX", () => javascript({ typescript: true, jsx: true })],
  [/\.(js|mjs|cjs)$/i, "JavaScript", () => javascript()],
  [/\.jsx$/i, "JSX", () => javascript({ jsx: true })],
  [/\.go$/i, "Go", () => go()],
  [/\.java$/i, "Java", () => java()],
  [/\.(c|h|cc|cpp|cxx|hpp|hh|hxx|ino)$/i, "C/C++", () => cpp()],
  [/\.(json|jsonc)$/i, "JSON", () => json()],
  [/\.(md|markdown)$/i, "Markdown", () => markdown()],
  [/(\.toml|^Cargo\.lock|\/Cargo\.lock)$/i, "TOML", () => StreamLanguage.define(toml)],
  [/\.(ya?ml)$/i, "YAML", () => yaml()],
  [/(\.(sh|bash|zsh)|^\.?bashrc|\/\.?bashrc)$/i, "Shell", () => StreamLanguage.define(shell)],
];

/** Language support for a code block's tag (`python`, `rs`, `ts`…), by file extension. */
function languageForTag(tag) {
  const aliases = { python: "py", rust: "rs", javascript: "js", typescript: "ts", shell: "sh", bash: "sh",
    golang: "go", "c++": "cpp", markdown: "md", yml: "yaml" };
  const ext = aliases[tag?.toLowerCase()] ?? tag?.toLowerCase();
  return ext ? languageFor(`x.${ext}`).extension : null;
}

function languageFor(path) {
  for (const [pattern, name, make] of LANGUAGES) {
    if (pattern.test(path)) return { name, extension: make() };
  }
  return { name: "Plain Text", extension: [] };
}

const tabs = new Map(); // path -> { state, saved, language }
let view = null;
let current = null;
let callbacks = { onChange() {}, onCursor() {} };
const languageSlot = new Compartment();
// The appliance's CSP allows the editor's generated <style> elements only with this
// per-page nonce; no inline style is allowed otherwise.
const cspNonce = document.querySelector('meta[name="airlock-csp-nonce"]')?.content ?? "";
const cspNonceExtension = EditorView.cspNonce.of(cspNonce);

function baseExtensions(path) {
  return [
    cspNonceExtension, lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), foldGutter(),
    drawSelection(), dropCursor(), EditorState.allowMultipleSelections.of(true), indentOnInput(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }), bracketMatching(), closeBrackets(),
    autocompletion(), rectangularSelection(), crosshairCursor(), highlightActiveLine(),
    highlightSelectionMatches(), oneDark,
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap,
      ...foldKeymap, ...completionKeymap, indentWithTab]),
    languageSlot.of(languageFor(path).extension),
    inlineCompletion(),
    EditorView.updateListener.of((update) => {
      if (current !== path) return;
      if (update.docChanged) {
        const tab = tabs.get(path);
        callbacks.onChange(path, update.state.doc.toString() !== tab.saved);
      }
      if (update.docChanged || update.selectionSet) reportCursor(update.state);
    }),
  ];
}

function reportCursor(state) {
  const head = state.selection.main.head;
  const line = state.doc.lineAt(head);
  callbacks.onCursor(line.number, head - line.from + 1);
}

function activate(path) {
  const tab = tabs.get(path);
  if (!tab) return false;
  if (current && current !== path && tabs.has(current)) tabs.get(current).state = view.state;
  current = path;
  view.setState(tab.state);
  reportCursor(tab.state);
  return true;
}

globalThis.airlockEditor = {
  /** Creates the single editor view inside `parent`; `onChange(path, dirty)`, `onCursor(line, col)`. */
  mount(parent, onChange, onCursor) {
    callbacks = { onChange, onCursor };
    view = new EditorView({ parent, state: EditorState.create({ doc: "", extensions: [cspNonceExtension, oneDark] }) });
    view.dom.setAttribute("aria-label", "Code editor");
  },
  /** Opens `path` with `content` as a new tab (or shows it if already open). Returns the language name. */
  open(path, content) {
    if (!tabs.has(path)) {
      const state = EditorState.create({ doc: content, extensions: baseExtensions(path) });
      tabs.set(path, { state, saved: content, language: languageFor(path).name });
    }
    activate(path);
    return tabs.get(path).language;
  },
  /** Shows an already open tab. */
  show(path) { return activate(path); },
  /** Forgets a tab and its undo history. */
  close(path) {
    tabs.delete(path);
    if (current === path) { current = null; view.setState(EditorState.create({ doc: "", extensions: [cspNonceExtension, oneDark] })); }
  },
  /** The text of an open tab. */
  content(path) {
    if (path === current) return view.state.doc.toString();
    const tab = tabs.get(path);
    return tab ? tab.state.doc.toString() : null;
  },
  /** Records `content` as what is on disk, so dirtiness is measured against it. */
  markSaved(path, content) {
    const tab = tabs.get(path);
    if (!tab) return;
    tab.saved = content;
    callbacks.onChange(path, this.content(path) !== content);
  },
  /** Replaces a tab's text (e.g. "reload from disk" after a conflict), keeping it undoable. */
  replace(path, content) {
    if (path !== current) activate(path);
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: content } });
    this.markSaved(path, content);
  },
  /** Renames an open tab after its file moved. */
  rename(from, to) {
    const tab = tabs.get(from);
    if (!tab) return;
    if (current === from) tab.state = view.state;
    tabs.delete(from);
    const language = languageFor(to);
    const state = tab.state.update({ effects: languageSlot.reconfigure(language.extension) }).state;
    tabs.set(to, { state: EditorState.create({ doc: state.doc, selection: state.selection, extensions: baseExtensions(to) }), saved: tab.saved, language: language.name });
    if (current === from) { current = null; activate(to); }
  },
  /** Language name shown in the status bar. */
  language(path) { return tabs.get(path)?.language ?? "Plain Text"; },
  /** Moves keyboard focus into the editor. */
  focus() { view?.focus(); },
  /** The active tab's path, or null. */
  current() { return current; },
  /** The active tab's selection: `{ path, text, fromLine, toLine }`, or null when empty. */
  selection() {
    if (!current || !view) return null;
    const { from, to } = view.state.selection.main;
    if (from === to) return null;
    return { path: current, text: view.state.sliceDoc(from, to), fromLine: view.state.doc.lineAt(from).number,
      toLine: view.state.doc.lineAt(to).number, from, to };
  },
  /** Inserts `text` at the active tab's cursor (replacing a selection); false without a tab. */
  insertAtCursor(text) {
    if (!current || !view) return false;
    const { from, to } = view.state.selection.main;
    view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length }, userEvent: "input.assistant" });
    view.focus();
    return true;
  },
  /** Sets an open tab's text (undoable, marked unsaved), e.g. an applied edit before saving. */
  setContent(path, content) {
    if (path !== current && !activate(path)) return false;
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: content }, userEvent: "input.assistant" });
    return true;
  },
  /** Inline completion: `{ provider(path, prefix, suffix, signal), debounceMs, enabled, onStatus(status) }`. */
  setCompletion(options) {
    Object.assign(completion, options, { pathOf: () => current });
  },
  /** The ghost text shown now, or null. */
  ghostText() { return view ? ghostText(view) : null; },
  /** A chat code block as highlighted HTML (escaped; spans with `tok-*` classes). */
  highlight(code, tag) { return highlight(code, languageForTag(tag)); },
};
