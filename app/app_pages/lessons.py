"""Lessons: the seed notebook's path through GRPO in eight steps (predict first, then reveal what grpo_core
computes), its five questions answered, and a printable worksheet."""

from __future__ import annotations

import streamlit as st

import classroom
import page_links
import sections
import urlstate
from safe_text import md
from grpo_core.lessons import (
    MAX_TITLE,
    QUESTIONS,
    STEPS,
    decode_answers,
    encode_answers,
    worksheet_html,
    worksheet_markdown,
    worksheet_title,
)

NUMBERS = [step.number for step in STEPS]
ANSWERS = "ls_answers"  # {step: the guess the learner revealed with}, mirrored in ?ls_ans=
SHOWN_QUESTIONS = "ls_shown_questions"
NEXT_KEY, PREVIOUS_KEY = "N", "P"

checked = urlstate.validate_params({
    "ls_step": urlstate.one_of("1", "2", "3", "4", "5", "6", "7", "8"),
    "ls_ans": decode_answers,
    "ls_title": worksheet_title,
})
if ANSWERS not in st.session_state:  # a new visit: the link's answers
    st.session_state[ANSWERS] = dict(checked.values.get("ls_ans", {}))
answers: dict = st.session_state[ANSWERS]


@st.cache_data(max_entries=16, show_spinner="Computing the answer…")
def step_answer(number: int):
    """A step's answer (deterministic: seeded runs on the CPU), computed once per server."""
    return STEPS[number - 1].answer()


@st.cache_data(max_entries=16, show_spinner="Computing the answer…")
def question_answer(number: int):
    return QUESTIONS[number - 1].answer()


def go(delta: int) -> None:
    step = int(st.session_state.get("ls_step") or 1)
    st.session_state["ls_step"] = min(max(step + delta, NUMBERS[0]), NUMBERS[-1])


def reveal(number: int) -> None:
    guess = st.session_state.get(f"ls_guess{number}")
    if guess is not None:
        answers[number] = guess
    st.rerun()  # from the step's section: the count of revealed steps and the address change with it


def forget(number: int) -> None:
    answers.pop(number, None)
    st.session_state.pop(f"ls_guess{number}", None)
    st.rerun()  # as reveal


def show_me(links) -> None:
    for link in links:
        page_links.draw(link, prefix="Show me: ")


def explain(answer) -> None:
    """The answer's explanation, a paragraph per line, and the experiment's lesson checked on these runs."""
    st.markdown("\n\n".join(md(line) for line in answer.explanation.split("\n")))
    if answer.checks:
        st.caption(f"The lesson of the ready-made experiment “{md(answer.experiment)}”, checked on these short runs: "
                   + " ".join(f"{'✓ shown' if c.holds else '✗ not shown here'}: {md(c.text)}." for c in answer.checks))


def prediction_widget(step, revealed: bool):
    """The learner's guess. Not bound to the URL: the page draws one step at a time and Streamlit drops a
    bound widget's URL value once it is not drawn, so the revealed guesses travel together in ?ls_ans=."""
    key, p = f"ls_guess{step.number}", step.prediction
    if revealed:
        st.session_state[key] = answers[step.number]
    if p.kind == "choice":
        extra = {} if key in st.session_state else {"index": None}
        return st.radio(p.prompt, p.options, key=key, disabled=revealed, horizontal=True, **extra,
                        help="Choose before you press Reveal.")
    if key not in st.session_state:
        st.session_state[key] = p.default
    return st.slider(p.prompt, p.low, p.high, step=p.step, key=key, disabled=revealed,
                     help=f"Your guess, between {p.low:g} and {p.high:g}, before you press Reveal.")


@sections.section("ls_prediction")
def prediction_section(step) -> None:
    """The step's guess and Reveal, or the answer: a guess reruns only this (Reveal and Try again, the page)."""
    revealed = step.number in answers
    guess = prediction_widget(step, revealed)
    if not revealed:
        st.button("Reveal", key=f"ls_reveal{step.number}", type="primary", on_click=reveal, args=(step.number,),
                  disabled=guess is None, icon=":material/visibility:",
                  help="Make your prediction first." if guess is None else "Compute what really happens.")
    else:
        answer = step_answer(step.number)
        said, actual = st.columns(2)
        said.metric("You said", guess if step.prediction.kind == "choice" else f"{guess:g}")
        actual.metric("It is", answer.shown)
        verdict = answer.verdict(step.prediction, guess)
        (st.success if answer.is_right(step.prediction, guess) else st.info)(md(verdict))
        explain(answer)
        show_me(step.links)
        st.button("Try again", key=f"ls_again{step.number}", on_click=forget, args=(step.number,),
                  icon=":material/replay:", help="Forget this answer and predict again.")


def question_answer_section(question, shown_questions: set) -> None:
    if question.number in shown_questions:
        explain(question_answer(question.number))
    else:
        st.button("Reveal", key=f"ls_question{question.number}", on_click=shown_questions.add,
                  args=(question.number,), icon=":material/visibility:")


@sections.section("ls_worksheet")
def worksheet_section() -> None:
    """The title and the downloads it goes into."""
    title = st.text_input("Title of the worksheet", key="ls_title", bind="query-params", max_chars=MAX_TITLE,
                          disabled=classroom.locked("ls_title"),
                          placeholder="GRPO lesson", help="Printed at the top, e.g. the class and the date.")
    title = title or "GRPO lesson"
    markdown_column, html_column = st.columns(2)
    markdown_column.download_button("Download the worksheet (Markdown)", worksheet_markdown(title, st.context.url), "grpo-lesson.md",
                                    "text/markdown", key="ls_download_md", on_click="ignore", icon=":material/download:")
    html_column.download_button("Download the worksheet (HTML, to print)", worksheet_html(title, st.context.url), "grpo-lesson.html",
                                "text/html", key="ls_download_html", on_click="ignore", icon=":material/print:")


# ------------------------------------------------------------------------------------------------ page

st.title("Lessons")
st.markdown(
    "The seed notebook's path through GRPO in eight steps. At each step **predict first**, then press "
    "**Reveal**: the app computes what really happens (with the same grpo_core code as every other page), puts "
    "it next to your guess and says why. Each answer links to the page set up to show it. Your step and your "
    f"revealed answers are in the address, so a link brings you back here. Keys: **{NEXT_KEY}** next step, "
    f"**{PREVIOUS_KEY}** previous step."
)

number = st.radio("Step", NUMBERS, key="ls_step", bind="query-params", horizontal=True,
                  disabled=classroom.locked("ls_step"),
                  help="Jump to a step; Previous and Next (keys P and N) move one at a time.") or NUMBERS[0]
step = STEPS[number - 1]
right = sum(step_answer(n).is_right(STEPS[n - 1].prediction, g) for n, g in answers.items())
st.caption(f"Revealed {len(answers)} of {len(STEPS)} steps" + (f", {right} predicted right." if answers else "."))

with st.container(border=True):
    st.subheader(f"Step {step.number} of {len(STEPS)}: {step.title}", anchor=False)
    st.markdown(md(step.text))
    prediction_section(step)

previous, position, following = st.container(key="ls_stepper").columns([1, 2, 1], vertical_alignment="center")
step_locked = classroom.locked("ls_stepper", "ls_step")  # Previous and Next, which set the step
previous.button("Previous", key="ls_previous", on_click=go, args=(-1,), disabled=number == NUMBERS[0] or step_locked,
                shortcut=PREVIOUS_KEY, icon=":material/arrow_back:", width="stretch")
position.caption(f"Step {number} of {len(STEPS)}")
following.button("Next", key="ls_next", on_click=go, args=(1,), disabled=number == NUMBERS[-1] or step_locked,
                 shortcut=NEXT_KEY, icon=":material/arrow_forward:", width="stretch")

urlstate.set_param("ls_ans", encode_answers(answers) or None)

st.header("The seed notebook's five questions", divider="gray", anchor=False)
st.markdown("Its \"Think about this\" questions. **Show me** opens the page set up to answer one; **Reveal** "
            "gives the answer in plain words, with the numbers the app computes.")
shown_questions: set = st.session_state.setdefault(SHOWN_QUESTIONS, set())
for question in QUESTIONS:
    with st.container(border=True):
        st.markdown(f"**{question.number}. {md(question.text)}**")
        show_me(question.links)
        # a section each: its Reveal redraws its own answer, not the page
        sections.section(f"ls_answer{question.number}")(question_answer_section)(question, shown_questions)

st.header("Worksheet", divider="gray", anchor=False)
st.markdown("A printable sheet for a class: each step's prediction with a blank to fill in before opening it, and "
            "the links to open, at this app's address.")
worksheet_section()
