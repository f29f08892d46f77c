//! One agent run as a state machine with no I/O: the driver asks [`Run::next`] what to do
//! (ask the model, run a step, or stop), does it, and reports back with
//! [`Run::model_answered`] or [`Run::step_finished`]. The history the model reads and the
//! steps the person sees are both kept here, so the two cannot disagree.

use airlock_inference::chat::Message;
use airlock_inference::tool_calls::{ToolCall, parse};
use serde_json::Value;

use super::tools;

/// The most text of one tool result the model reads back (the rest is cut, and it is told).
pub const MAX_RESULT_CHARS: usize = 6_000;

/// Repeats of a call that already ran, in a row, after which the run ends: a small model that
/// has done the task often re-issues its last call instead of answering.
pub const MAX_REPEATS: usize = 2;

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Ask the model with [`Run::messages`].
    Ask,
    /// Run step `index` of [`Run::steps`].
    Step(usize),
    /// The run is over.
    Done(End),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The model answered without calling a tool.
    Answered,
    /// The person pressed Stop.
    Stopped,
    /// The step limit was reached.
    StepLimit,
    /// The model kept repeating step `.0` (its id's number), which had already run.
    Repeating(String),
    /// The model or the backend failed.
    Failed(String),
}

/// Where a step is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Waiting for the steps before it.
    Queued,
    /// Running (or waiting for the person).
    Running,
    /// Ran; its result went back to the model.
    Done,
    /// The appliance or the argument check refused it; the reason went back to the model.
    Refused(String),
    /// The person said no.
    Denied,
    /// Stopped with the run.
    Cancelled,
}

/// One tool call as the person sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The call's id in the history.
    pub id: String,
    /// The tool.
    pub tool: String,
    /// Its arguments.
    pub arguments: Value,
    /// Where it is.
    pub state: State,
    /// What it returned (output, diff, listing), as shown.
    pub output: String,
    /// How long it took, ms.
    pub ms: f64,
    /// What the model reads back, once the step has ended.
    result: Option<String>,
}

/// How a step ended, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran: the text the model reads.
    Ran(String),
    /// Refused, with the reason.
    Refused(String),
    /// The person denied it (with what they said, if anything).
    Denied(String),
}

/// One agent run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    messages: Vec<Message>,
    steps: Vec<Step>,
    /// Steps whose results are in `messages` (results go in in call order).
    reported: usize,
    max_steps: usize,
    /// Calls in a row refused as repeats of one that ran.
    repeats: usize,
    end: Option<End>,
    /// The model's last text (its answer when the run ends).
    pub answer: String,
}

impl Run {
    /// A run of `task` under `system`, allowed `max_steps` tool calls.
    pub fn new(system: &str, task: &str, max_steps: usize) -> Self {
        Self {
            messages: vec![Message::new("system", system), Message::new("user", task)],
            steps: Vec::new(),
            reported: 0,
            max_steps,
            repeats: 0,
            end: None,
            answer: String::new(),
        }
    }

    /// The conversation the model reads next.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Every step so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// How the run ended, once it has.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// What to do next.
    pub fn next(&self) -> Next {
        if let Some(end) = &self.end {
            return Next::Done(end.clone());
        }
        if let Some(i) = self
            .steps
            .iter()
            .position(|s| matches!(s.state, State::Queued | State::Running))
        {
            return Next::Step(i);
        }
        if self.steps.len() >= self.max_steps {
            return Next::Done(End::StepLimit);
        }
        Next::Ask
    }

    /// Records the model's turn: `text` as written, plus calls the backend returned apart
    /// from the text (an OpenAI-compatible server's `tool_calls`). Calls whose arguments fail
    /// the schema become refused steps whose reason the model reads next.
    pub fn model_answered(&mut self, text: &str, structured: Vec<Result<ToolCall, String>>) {
        let parsed = parse(text);
        let mut calls = structured;
        calls.extend(parsed.calls);
        self.answer = parsed.content.clone();
        if calls.is_empty() {
            self.messages
                .push(Message::new("assistant", &parsed.content));
            self.end = Some(End::Answered);
            return;
        }
        let mut turn = Message::new("assistant", &parsed.content);
        let room = self.max_steps.saturating_sub(self.steps.len());
        for call in calls.into_iter().take(room.max(1)) {
            let id = format!("call_{}", self.steps.len() + 1);
            let (tool, arguments, state) = match call {
                Ok(call) => {
                    let state = match tools::check(&call.name, &call.arguments) {
                        Ok(()) => match self.repeated(&call.name, &call.arguments) {
                            Some((step, why)) => {
                                self.repeats += 1;
                                if self.repeats >= MAX_REPEATS {
                                    self.end = Some(End::Repeating(step));
                                }
                                State::Refused(why)
                            }
                            None => {
                                self.repeats = 0;
                                State::Queued
                            }
                        },
                        Err(why) => State::Refused(why),
                    };
                    (call.name, call.arguments, state)
                }
                Err(why) => ("(unreadable)".to_owned(), Value::Null, State::Refused(why)),
            };
            turn.tool_calls.push(ToolCall {
                id: Some(id.clone()),
                name: tool.clone(),
                arguments: arguments.clone(),
            });
            let result = match &state {
                State::Refused(why) => Some(format!("refused: {why}")),
                _ => None,
            };
            self.steps.push(Step {
                id,
                tool,
                arguments,
                state,
                output: String::new(),
                ms: 0.0,
                result,
            });
        }
        self.messages.push(turn);
        self.report();
    }

    /// A call identical to the last step, which ran, is not run again (a small model can loop
    /// on its last call; the person would be asked to approve it again and again): the model is
    /// told to go on. Gives that step's number and the refusal the model reads.
    fn repeated(&self, tool: &str, arguments: &Value) -> Option<(String, String)> {
        // The last step that was not refused (refusals, repeats included, change nothing).
        let last = self
            .steps
            .iter()
            .rev()
            .find(|s| !matches!(s.state, State::Refused(_)));
        match last {
            Some(last)
                if last.tool == tool
                    && last.arguments == *arguments
                    && last.state == State::Done =>
            {
                let step = last.id.trim_start_matches("call_").to_owned();
                let why = format!(
                    "this is the same call as step {step} ({}), which already ran; continue with the rest of the task, or answer if it is done",
                    last.tool
                );
                Some((step, why))
            }
            _ => None,
        }
    }

    /// Moves finished steps' results into the history, in the order of the calls.
    fn report(&mut self) {
        while let Some(step) = self.steps.get(self.reported) {
            let Some(result) = &step.result else { break };
            self.messages.push(tool_message(&step.id, result));
            self.reported += 1;
        }
    }

    /// Marks step `index` as running.
    pub fn step_started(&mut self, index: usize) {
        if let Some(step) = self.steps.get_mut(index) {
            step.state = State::Running;
        }
    }

    /// Adds shown output to a running step (a command's output as it comes).
    pub fn step_output(&mut self, index: usize, text: &str) {
        if let Some(step) = self.steps.get_mut(index) {
            step.output.push_str(text);
        }
    }

    /// Records how step `index` ended; the model reads the result next.
    pub fn step_finished(&mut self, index: usize, outcome: Outcome, ms: f64) {
        let Some(step) = self.steps.get_mut(index) else {
            return;
        };
        step.ms = ms;
        let for_model = match &outcome {
            Outcome::Ran(text) => {
                step.state = State::Done;
                cut(text)
            }
            Outcome::Refused(why) => {
                step.state = State::Refused(why.clone());
                format!("refused: {why}")
            }
            Outcome::Denied(said) => {
                step.state = State::Denied;
                let mut text = "denied: the user did not allow this call. Do not repeat it; choose another way or explain.".to_owned();
                if !said.is_empty() {
                    text.push_str(&format!(" The user said: {said}"));
                }
                text
            }
        };
        step.result = Some(for_model);
        self.report();
    }

    /// The person pressed Stop: unfinished steps are cancelled and the run ends.
    pub fn stop(&mut self) {
        for step in &mut self.steps {
            if matches!(step.state, State::Queued | State::Running) {
                step.state = State::Cancelled;
            }
        }
        if self.end.is_none() {
            self.end = Some(End::Stopped);
        }
    }

    /// The model or backend failed: the run ends with the reason.
    pub fn fail(&mut self, why: String) {
        self.stop();
        self.end = Some(End::Failed(why));
    }
}

fn tool_message(id: &str, content: &str) -> Message {
    let mut message = Message::new("tool", content);
    message.tool_call_id = Some(id.to_owned());
    message
}

/// `text` cut to [`MAX_RESULT_CHARS`], saying so.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_RESULT_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => format!(
            "{}\n[cut: {} more characters not shown]",
            &text[..at],
            text[at..].chars().count()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value) -> String {
        format!(
            "<tool_call>\n{}\n</tool_call>",
            json!({"name": name, "arguments": arguments})
        )
    }

    #[test]
    fn a_task_runs_its_steps_and_ends_with_the_answer() {
        let mut run = Run::new("sys", "fix a.py", 8);
        assert_eq!(run.next(), Next::Ask);
        run.model_answered(
            &format!("Looking.\n{}", call("read_file", json!({"path": "a.py"}))),
            Vec::new(),
        );
        assert_eq!(run.next(), Next::Step(0));
        run.step_started(0);
        assert_eq!(
            run.next(),
            Next::Step(0),
            "a running step is still the next"
        );
        run.step_finished(0, Outcome::Ran("print(1)".into()), 3.0);
        assert_eq!(run.next(), Next::Ask);
        let history = run.messages();
        assert_eq!(history.len(), 4);
        assert_eq!(history[2].tool_calls[0].name, "read_file");
        assert_eq!(history[3].role, "tool");
        assert_eq!(history[3].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(history[3].content, "print(1)");
        run.model_answered("Done: a.py prints 1.", Vec::new());
        assert_eq!(run.next(), Next::Done(End::Answered));
        assert_eq!(run.answer, "Done: a.py prints 1.");
    }

    #[test]
    fn bad_calls_are_refused_and_the_model_reads_why() {
        let mut run = Run::new("sys", "t", 8);
        run.model_answered(
            &format!(
                "{}{}",
                call("read_file", json!({"path": 1})),
                call("list_dir", json!({}))
            ),
            vec![Err("the tool call is not valid JSON".into())],
        );
        let steps = run.steps();
        assert_eq!(steps.len(), 3);
        assert!(matches!(steps[0].state, State::Refused(_)));
        assert!(matches!(&steps[1].state, State::Refused(why) if why.contains("must be a string")));
        assert_eq!(steps[2].state, State::Queued);
        assert_eq!(run.next(), Next::Step(2));
        let tool_turns: Vec<&Message> =
            run.messages().iter().filter(|m| m.role == "tool").collect();
        assert_eq!(tool_turns.len(), 2);
        assert!(
            tool_turns[1]
                .content
                .starts_with("refused: the argument \"path\"")
        );
    }

    #[test]
    fn denial_stop_and_the_step_limit_end_things() {
        let mut run = Run::new("sys", "t", 2);
        run.model_answered(&call("run_command", json!({"command": "make"})), Vec::new());
        run.step_finished(0, Outcome::Denied(String::new()), 1.0);
        assert_eq!(run.steps()[0].state, State::Denied);
        assert!(run.messages().last().unwrap().content.starts_with("denied"));
        assert_eq!(run.next(), Next::Ask, "the model hears the denial");
        run.model_answered(
            &format!(
                "{}{}",
                call("list_dir", json!({})),
                call("list_dir", json!({"path": "src"}))
            ),
            Vec::new(),
        );
        assert_eq!(run.steps().len(), 2, "calls beyond the limit are not taken");
        run.step_finished(1, Outcome::Ran("[]".into()), 1.0);
        assert_eq!(run.next(), Next::Done(End::StepLimit));

        let mut stopped = Run::new("sys", "t", 8);
        stopped.model_answered(
            &call("run_command", json!({"command": "sleep 100"})),
            Vec::new(),
        );
        stopped.step_started(0);
        stopped.stop();
        assert_eq!(stopped.steps()[0].state, State::Cancelled);
        assert_eq!(stopped.next(), Next::Done(End::Stopped));
    }

    #[test]
    fn a_call_repeating_the_last_one_that_ran_is_not_run_again() {
        let mut run = Run::new("sys", "t", 8);
        let write = call("apply_edit", json!({"path": "a", "content": "x"}));
        run.model_answered(&write, Vec::new());
        run.step_finished(0, Outcome::Ran("wrote a".into()), 1.0);
        run.model_answered(&write, Vec::new());
        assert!(
            matches!(&run.steps()[1].state, State::Refused(why) if why.contains("same call as step 1 (apply_edit)"))
        );
        assert_eq!(run.next(), Next::Ask, "the model hears it and goes on");
        // A different call runs, and resets the count.
        run.model_answered(&call("run_command", json!({"command": "ls"})), Vec::new());
        assert_eq!(run.steps()[2].state, State::Queued);
        run.step_finished(2, Outcome::Ran("a".into()), 1.0);
        let ls = call("run_command", json!({"command": "ls"}));
        run.model_answered(&ls, Vec::new());
        assert_eq!(run.next(), Next::Ask, "one repeat is heard");
        run.model_answered(&ls, Vec::new());
        assert!(matches!(&run.steps()[4].state, State::Refused(_)));
        assert_eq!(
            run.next(),
            Next::Done(End::Repeating("3".into())),
            "the second repeat in a row ends the run"
        );
        let mut denied = Run::new("sys", "t", 8);
        denied.model_answered(&write, Vec::new());
        denied.step_finished(0, Outcome::Denied(String::new()), 1.0);
        denied.model_answered(&write, Vec::new());
        assert_eq!(
            denied.steps()[1].state,
            State::Queued,
            "asking again after a denial is the person's call"
        );
    }

    #[test]
    fn long_results_are_cut_with_a_note() {
        let mut run = Run::new("sys", "t", 8);
        run.model_answered(&call("read_file", json!({"path": "big"})), Vec::new());
        run.step_finished(0, Outcome::Ran("x".repeat(MAX_RESULT_CHARS + 10)), 1.0);
        let last = &run.messages().last().unwrap().content;
        assert!(
            last.ends_with("[cut: 10 more characters not shown]"),
            "{}",
            &last[last.len() - 60..]
        );
    }
}
