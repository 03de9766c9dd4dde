"""A process is an explicit ``transitions`` machine: Enum states, a transitions table, named
guards that return the reason they refuse. Pure: no database, no Prefect, no web.

``Process.decide(state, trigger, facts)`` answers whether a trigger may fire from a state
given the facts the caller loaded, and where it leads; the engine (``store.engine``) then
persists the answer. One ``Machine`` per process; a throwaway model per decision.

``declare(process, {trigger: Said(...)})`` is the data beside a machine that says what each
step leaves behind besides its history row: who is told (audiences, by name) and which
after-effects run (by name). The feature's home (``api/<feature>/steps.py``) binds the names
to functions (``store.engine.bind``); the engine runs them in the step's unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from transitions import Machine, MachineError

from kernel.i18n import N_, Msg

# transitions logs every callback of every decision at INFO ("Finished processing state …
# enter callbacks"): dozens of lines per step in `aimis up`'s console. Our own history and
# audit rows say what happened; keep its warnings.
logging.getLogger("transitions").setLevel(logging.WARNING)

S = TypeVar("S", bound=Enum)

Guard = Callable[[Any], str | None]
"""A named check of the facts: ``None`` lets the step through, a sentence refuses it."""


@dataclass(frozen=True)
class Step(Generic[S]):
    """One row of a transitions table."""

    trigger: str
    source: S | Sequence[S]
    dest: S
    guards: tuple[Guard, ...] = ()

    @property
    def sources(self) -> list[S]:
        return list(self.source) if isinstance(self.source, (list, tuple)) else [self.source]  # type: ignore[list-item]


# The word of a process in the catalogue's contexts ("report state", "diagnosis step").
WORDS = {"diagnosis_request": "diagnosis", "exam_report": "report"}


@dataclass(frozen=True)
class Decision(Generic[S]):
    allowed: bool
    source: S
    dest: S | None = None
    reason: str = ""


@dataclass(frozen=True)
class Tell:
    """A notice of its own for some audiences of a step: ``notice`` labels it (its text),
    ``to`` names the audiences (e.g. the applicant's "your request was sent" beside the
    reviewers' "please review")."""

    notice: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class Said:
    """What one step leaves behind besides its history row: ``tell`` names the audiences
    that get one notice (labelled ``notice``, default the trigger), ``after`` the
    after-effects that run, in this order, in the step's transaction. ``also`` are notices
    of their own for other audiences, in order: each person gets one notice per step, the
    first that names him (an ``also`` before ``tell``)."""

    tell: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    notice: str = ""
    also: tuple[Tell, ...] = ()


CREATE = "create"
"""The trigger of a case's creation (a transition from no state) in a declaration."""


@dataclass(frozen=True)
class Declared:
    """A process's declared steps, by trigger; a trigger it does not name leaves nothing."""

    process: str
    steps: Mapping[str, Said] = field(default_factory=dict)
    created: str = CREATE  # the history event of the case's creation

    def said(self, trigger: str) -> Said:
        return self.steps.get(trigger, NOTHING)

    @property
    def audiences(self) -> frozenset[str]:
        return frozenset(
            a
            for said in self.steps.values()
            for a in (*said.tell, *(n for t in said.also for n in t.to))
        )

    @property
    def effects(self) -> frozenset[str]:
        return frozenset(e for said in self.steps.values() for e in said.after)


NOTHING = Said()


@dataclass
class _Probe:
    state: Any
    refusals: list[str] = field(default_factory=list)


class Process(Generic[S]):
    def __init__(self, name: str, states: type[S], initial: S, steps: list[Step[S]]) -> None:
        self.name = name
        self.states = states
        self.initial = initial
        self.steps = steps
        self.declared = Declared(name)
        self.terminal = frozenset(s for s in states if not any(s in step.sources for step in steps))
        self._machine = Machine(
            model=None,
            states=list(states),
            initial=initial,
            transitions=[
                {
                    "trigger": step.trigger,
                    "source": step.sources,
                    "dest": step.dest,
                    "conditions": [self._condition(g) for g in step.guards],
                }
                for step in steps
            ],
            auto_transitions=False,
            send_event=True,
            model_attribute="state",
        )

    @staticmethod
    def _condition(guard: Guard) -> Callable[[Any], bool]:
        def condition(event: Any) -> bool:
            reason = guard(event.kwargs.get("facts"))
            if reason:
                event.model.refusals.append(reason)
            return reason is None

        condition.__name__ = guard.__name__
        return condition

    @property
    def triggers(self) -> list[str]:
        return sorted({step.trigger for step in self.steps})

    def decide(self, state: S, trigger: str, facts: Any = None) -> Decision[S]:
        probe = _Probe(state)
        self._machine.add_model(probe, initial=state)
        try:
            try:
                moved = probe.trigger(trigger, facts=facts)  # type: ignore[attr-defined]
            except (MachineError, AttributeError):
                return Decision(False, state, reason=self._not_possible(state, trigger))
            if not moved:
                reason = probe.refusals[0] if probe.refusals else N_("not allowed now")
                return Decision(False, state, reason=reason)
            return Decision(True, state, probe.state)
        finally:
            self._machine.remove_model(probe)

    def _not_possible(self, state: S, trigger: str) -> str:
        """Said in the reader's language: the process, its step and its state are message ids
        too (contexts "process", "<word> step" and "<word> state", the word of ``WORDS``)."""
        name = Msg(self.name, context="process")
        if trigger not in self.triggers:
            return Msg("{name} knows no action {trigger!r}.", name=name, trigger=trigger)
        word = WORDS.get(self.name, self.name)
        return Msg(
            "You cannot {trigger} a {name} that is {state}.",
            trigger=Msg(trigger.replace("_", " "), context=f"{word} step"),
            name=name,
            state=Msg(state.value, context=f"{word} state"),
        )

    def available(self, state: S, facts: Any = None) -> list[str]:
        """Triggers that would succeed now: what the UI offers as buttons."""
        return [t for t in self.triggers if self.decide(state, t, facts).allowed]

    def mermaid(
        self,
        state_word: Callable[[str], str] | None = None,
        step_word: Callable[[str], str] | None = None,
    ) -> str:
        """The machine as a Mermaid state diagram: its identifiers (the documentation's), or
        with ``state_word`` and ``step_word`` the reader's words for states and steps (a
        page's diagram: then without the guards' function names)."""
        # Mermaid draws one arrow per pair of states and keeps one label: steps between the
        # same two states share the arrow, their labels one under the other.
        edges: dict[tuple[str, str], list[str]] = {}
        for step in self.steps:
            if step_word is None:
                guards = ", ".join(g.__name__ for g in step.guards)
                label = step.trigger + (f" [{guards}]" if guards else "")
            else:
                label = step_word(step.trigger)
            for source in step.sources:
                edges.setdefault((source.value, step.dest.value), []).append(label)
        lines = ["stateDiagram-v2"]
        if state_word is not None:
            lines += [f'    state "{state_word(s.value)}" as {s.value}' for s in self.states]
        lines += [f"    [*] --> {self.initial.value}"]
        lines += [f"    {a} --> {b}: {'<br/>'.join(labels)}" for (a, b), labels in edges.items()]
        lines += [f"    {s.value} --> [*]" for s in self.states if s in self.terminal]
        return "\n".join(lines)


def declare(process: Process[Any], steps: Mapping[str, Said], *, created: str = CREATE) -> Declared:
    """Attach ``steps`` to ``process`` (every key a trigger of its machine, or ``created``:
    the name of the case's creation in its history)."""
    unknown = set(steps) - {*process.triggers, created}
    if unknown:
        raise ValueError(f"{process.name} has no trigger {', '.join(sorted(unknown))}")
    process.declared = Declared(process.name, dict(steps), created)
    return process.declared
