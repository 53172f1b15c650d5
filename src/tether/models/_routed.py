"""The local model's routed turn: route, ground, answer (see :mod:`tether.models._routing`).

:class:`RoutedTurns` is mixed into :class:`~tether.models.LocalModel`. It runs
on the model's worker thread with the llama context loaded, and is used when
the request's tools carry routing examples (``@tool(examples=[...])``):

- a user message is **routed**: by its nearest examples (``routing="examples"``,
  the default), or by the model choosing a route name under a grammar
  (``routing="model"``, kept for comparison);
- a tool's arguments are **grounded**: each one is chosen from spans of the
  user's messages, by the words around them when they decide, else by the
  model under a grammar that admits only those spans;
- after a tool result the answer **quotes** the result; without a tool the
  reply of the nearest answer example is given (or, for answer examples given
  as a plain list, the model answers in a sentence that may not contain a digit);
- a message routed to a **write** tool that names nothing for it to act on
  ("refund rules please", "i need a refund") is answered from the nearest
  read-only tool, and the answer ends with the question for what the write needs
  ("To refund an order, I need the order number."); the reply to that question
  goes to the write, which still waits for its approval. The embeddings could not
  tell a question about refunds from a request for one (their scores differed by
  0.005-0.017 either way): this answers both. A message routed to a read tool with
  a write within ``_NEAR_WRITE`` of it gets the same question after the read's
  answer, when the messages give the write nothing to act on ("can i have my cash
  back" went to the refund policy by 0.005); never a proposed write;
- a message about nothing the tool it went to does (no id, no word of its examples
  or the descriptions: "What's the weather in Paris?") goes to the nearest route
  that shares a word with it, else gets the reply of its nearest answer example, and
  one sent to the answer route that names an id ("any news on 1234??") goes to the
  nearest read-only tool (see :func:`~tether.models._routing.on_topic`);
- a message that refuses or takes back a write ("Please don't refund order 5678", "I
  never asked for a refund", "cancel my refund request") proposes none and asks for
  none: what else it asks is answered ("I'm not asking for a refund, where is order
  1234?" looks the order up), else the refusal is acknowledged (see
  :func:`~tether.models._routing.declined`); an amount it excludes ("not 20 dollars",
  "except 2000 cents") is never an argument, and is routed without;
- a goodbye, a "you're welcome" or an apology is given only to a message that says
  so in words ("Ciao!" and "lol" were nearest "Bye!"; see
  :meth:`~tether.models._routing.ExampleRouter.answer`).

Measured on the main job (``benchmarks/local_model.py --eval``, 276 customer
messages, 91 of them held out from tuning): routed by examples 266/276 right
(dev 180/185, held out 86/91), 0 writes nobody asked for, every answer faithful.
The second held-out batch (28 rows: contact questions, slang refund requests,
greetings in other languages, laughter, emoji, thanks and goodbyes) was written and
measured before the near-write, off-topic and presuming-reply rules and the contact
and small-talk answer examples (19/28), then once after them (23/28; its goodbyes and
thanks in words no example has, "thx!", "Adios!", now get "How can I help you?"). The
first 193 rows went from 188/193 to 190/193 (held out 61/63 to 63/63).
Four defects a new user then found (a part of an order refunded in full, "refund half
of order A-1029" proposing $74.50; swaps answered "can't help"; "thx!", "cheers",
"gotta go" told "How can I help you?"; a policy answer followed by the question for a
refund's order number) got 87 dev rows, measured before (25/87: 20 writes of an amount
nobody stated, 9 questions nobody asked) and after the unstated-amount and
policy-question rules and the short thanks, goodbye and swap examples (84/87, none of
either). The eval counts such a question as wrong since: the 276 rows above were
244/276 by that count before (22 questions for a refund after a policy answer, 10 of
them held out), 268/276 after (dev 181/185, held out 87/91: "thx!" and "Adios!" of the
second batch right, "has 4455 been dispatched or what" now wrong, "what happens if i
want my money back" still asked for an order number); 0 writes nobody asked for, every
answer faithful, before and after.
Red team 12's hole 05 (refused refunds proposed as refunds, excluded amounts as the
amount) got 35 dev rows (5 of its messages, 30 written before the fix: 17 refusals, 9
excluded amounts, 9 negations about something else that still ask for the refund): 12/35
before with 16 writes nobody asked for, 35/35 after with none; the other 363 rows
unchanged (held out 87/91 both).
Five rough edges then got a held-out batch (``session10``, 40 rows written before the
fixes: amounts in words and other currencies, unknown orders, parting wishes, refunds
refused in other languages, bare ids with a status verb, and ordinary traffic), 19/40 with
one write nobody asked for ("not looking for a refund, just want to know if 9012 shipped")
before, 38/40 with none after: an amount spelled out ("five euros") is grounded in cents;
a tool error's hint for the person ends its answer ("Could you check the order number?");
a parting wish ("have a good one") says goodbye and is about no tool; a refund refused in
Spanish, Portuguese, French, Italian or German is a refusal, and an id what is left of one
names goes to the read that takes ids; a message naming an id goes to such a read when it
is within ``_NEAR_ID`` of the read it went to. All 438 rows: 403 right before, 428 after
(dev 297/307 to 302/307), none wrong after that was right before, faithful 1.0 both.
Red team 14b found refunds proposed nobody asked for: a refund reported as done, a
transcript pasted in the message, questions, hedges, deferrals and someone else's wish,
conditions, a named part of the order's cost or an amount left to judgment (the full
total was proposed), happy customers, and other requests (store credit, a return). A write
is now proposed only for the customer's own words (``own_words``) that name it
(``names_write``), ask for it now (``asks_about``: hedges, deferrals, another's wish,
modal questions), without a condition (``conditional``: the order is looked up), and with
an amount stated (``unstated_amount``: "the shipping fee", "a reasonable amount"). Its 28
messages and 28 rows written for its families (dev) were 27/28 and 24/28 right after, with
no write nobody asked for; the other 438 rows unchanged (428 right, held out 126/131).
Red team 14b's minor holes 09-12: a message of several requests is taken apart and each part
routed as if it came alone (``_several``: "where is order 1234 and what's your return
policy?" got the policy alone, "Where are orders 1234 and 9012?" one lookup), the answer
quoting every result; a refund asked for in Spanish, Portuguese, French, Italian or German,
or "refund <id>" after slang, goes to the write (it was looked up); an amount in units and
cents is one amount ("twenty dollars and fifty cents", asked for before); and a refund under
way spoken of ("my refund 5678 is stuck") is no request for one (it proposed the full total
again). A part proposes a write only as a message would on its own (now, unconditional, its
amount stated), and waits for approval like any; a part that would ask for something
another part may give leaves the message whole, as before. Measured on the 567 rows before
it: 554 right before, 555 after (the one change "where's 77 at", now looked up), no call
of any other row changed (held out 126/131 both), 0 writes nobody asked for, faithful 1.0
both; its 31 dev rows (batch ``redteam14b-minor3``, 12 of the red team's messages and 19
written for the families) 30/31 after ("¿Cuánto tarda un reembolso?" gets the help menu:
the policies have no words in Spanish).
Session 13's stranger test: one amount for several orders ("refund $10 on orders 1234 and
5678") is a refund per order when it is for each, and asked ("Is $10 for each of 1234 and
5678, or for all of them together?") when it may be a sum (``_for_each``); money asked back in
other languages ("¿Me pueden devolver el dinero del pedido 1234?") goes to the write like a
refund asked for there, questions, conditions and refusals in them to none; and a message of
reads and writes gets its reads first, their answer then coming with the proposed writes
(``_THEN``), so the customer reads it while the writes wait for approval.
The last 23 held-out rows are every other message of a stranger's probe of 46,
written and measured before the off-topic rule (30/46 of the probe right, then 44/46).
Of the held-out rows, 14 were measured before and after the refund-question
examples and this rule (3/10 of their policy questions right, then 6/10, then
10/10), and 10 were written after both and measured once (10/10).
On the first 95 of those messages (measured before the 37 later dev rows),
routing by the model under a grammar (same grounding and answers) got 41/95 with
2 unasked refunds (a refund needs only an order id, so a misroute proposes one;
it still waits for approval), and one constrained reply per turn
(``routing="off"``) 16/95 with 10 unasked refunds.
"""

from __future__ import annotations

import codecs
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from tether.models._embed import Embedder, LlamaEmbedder
from tether.models._llama import _LOOP_MIN_SPAN, loop_start
from tether.models._prompt import (
    ChatTurn,
    PromptSegment,
    _parameters_schema,
    assistant_content,
    chatml_segments,
    tool_signature,
)
from tether.models._routing import (
    THANKS_REPLIES,
    ExampleRouter,
    Span,
    amount_for_each,
    amount_in_all,
    amount_text,
    argument_candidates,
    asks_about,
    asks_for_write,
    asks_something,
    choice_grammar,
    conditional,
    declared_currency,
    declined,
    distinct_words,
    find_spans,
    foreign_amount,
    foreign_write_request,
    groundable,
    hedged,
    listed_ids,
    missing_argument_text,
    missing_details,
    names_an_id,
    names_write,
    ordered_write,
    own_words,
    quote_result,
    replies_said,
    requests_of,
    several_amounts,
    skills_text,
    takes_an_id,
    tool_action,
    tool_examples,
    unreadable_amount,
    unstated_amount,
    without_each,
    without_exclusions,
)
from tether.models._types import (
    FinishReason,
    Message,
    ModelRequest,
    ModelResponse,
    ToolCall,
    ToolSpec,
    Usage,
)

__all__ = ["RoutedTurns", "RoutingMode", "uses_routing"]

RoutingMode = Literal["examples", "model", "off"]

_ANSWER_TOKENS = 48
_CHOICE_TOKENS = 24
# A reply without a tool may not contain a digit: it has looked nothing up, so
# any number in it (an order id, a date, an amount) would be made up.
_NO_DIGITS_GRAMMAR = "root ::= [^0-9\\x00-\\x1F]+\n"
_ANSWER_NOTE = (
    "Reply to the customer in one short, friendly sentence. You have not looked anything "
    "up: never state order details, dates, amounts, statuses or places."
)
_ROUTE_NOTE = (
    "Decide what to do with the customer's message. Options:\n{options}\n"
    "Reply with the option name only."
)
_ANSWER_OPTION = "answer"
_NEAR_WRITE = 0.01
"""A write tool this near the read tool a message went to (best example similarity) may be
what the customer asked for: with nothing for it to act on, the read's answer is followed by
its question. The embeddings tell a question about refunds from a request for one by no more
than noise: on the main job's dev rows, refund questions scored 0.0003-0.0075 below the
refund examples, and "i want my money bak" 0.008 (a write the message can act on is never
proposed this way: it would be unasked for)."""
_NEAR_ID = 0.005
"""A read tool that takes an id this near the read tool without one that a message naming an
id went to (best example similarity) takes the message: see :meth:`RoutedTurns._route`."""
_NEAR_WORDS = 0.03
"""How far a read without an id (or the answer) may lead the read that takes one and still
give a message naming an id to it when its words say nothing of the first: "what is the eta
of order 77" led by 0.026 (the answer), "were is my oder 5678" by 0.021 (the policies)."""
_SAID = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
"""Where a quoted result's sentences end (a capital follows)."""
_THEN = "_then"
"""The end of a read call's id made before the writes of the same message: the answer to
its result comes with those writes (see :meth:`RoutedTurns._several`), so the customer reads
it while the writes wait for approval, not after they are decided."""
_ASK = re.compile(r"_ask_(\d+)_(\d+)$")
"""The end of a read call's id that names, by position, the write tool and its required
argument still missing (``call_1_ask_2_0``): the answer after the read's result asks for
it. Positions, not names, keep the id within what every provider accepts for one
(letters, digits, ``_`` and ``-``), should a later turn of the run go to another model."""


def uses_routing(request: ModelRequest, mode: RoutingMode) -> bool:
    """Whether a request takes the routed path: routing on, plain answers, tools with examples."""
    return (
        mode != "off"
        and request.output_schema is None
        and any(tool_examples(t) for t in request.tools)
    )


def _first_sentence_or_two(text: str) -> str:
    text = " ".join(text.split())
    ends = [i for i, c in enumerate(text) if c in ".!?"]
    if len(ends) >= 2:
        return text[: ends[1] + 1]
    if ends:
        return text[: ends[0] + 1]
    return text


FLAGGED_RESULT_ANSWER = (
    "Sorry, I can't pass that result on: part of it reads as instructions rather than information."
)
"""The answer to a tool result the run flagged as an injection attempt (never quoted)."""


class RoutedTurns:
    """Route, ground and answer on a loaded llama context (mixed into ``LocalModel``)."""

    # Provided by LocalModel.
    _llama: Any
    _llama_cpp: Any
    _grammars: dict[str, Any]
    n_threads: int
    seed: int
    routing: RoutingMode
    answer_examples: tuple[str, ...]
    answer_replies: dict[str, str]
    route_k: int
    _embedder: Embedder | None
    _router: ExampleRouter | None
    _routed_tokens: list[int]
    _routed_read: int

    if TYPE_CHECKING:

        @property
        def model_id(self) -> str: ...

        @property
        def model_path(self) -> Any: ...

        def _tokenize_text(self, text: str, *, special: bool) -> list[int]: ...

        def _grammar_for(self, schema: dict[str, Any]) -> Any: ...

    # ------------------------------------------------------------------ the turn

    def _routed_reply(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None,
        cancel: threading.Event,
        *,
        whole: bool = True,
    ) -> tuple[ModelResponse, str]:
        """One routed turn: a grounded tool call, a quoted result or a short answer.

        Returns the response and the route taken (a tool name, ``"answer"``,
        ``"quote"`` or ``"ask:<tool>"``), for stats. A message of several requests gets a
        call for each (see :meth:`_several`); ``whole=False`` routes one of them alone.
        """
        if whole:  # a part of a message (``_several``) counts toward the message's turn
            self._routed_tokens = [0, 0]  # prompt tokens, output tokens of model sub-calls
            self._routed_read = 0  # tokens of the message embedded for routing
        messages = request.messages
        last = messages[-1] if messages else None
        first_call = 1 + sum(len(m.tool_calls) for m in messages)
        if last is not None and last.role == "tool":
            # Every result of the last batch of calls, in the order they were asked for: a
            # message of several requests ("where is order 1234 and what's your return
            # policy?") gets an answer to each.
            batch: list[Message] = []
            for message in reversed(messages):
                if message.role != "tool":
                    break
                batch.insert(0, message)
            if any(m.flagged for m in batch):
                # The result tries to instruct whoever reads it: quoted, it would reach the
                # customer word for word ("re-enter your card number at http://...").
                return self._answer(FLAGGED_RESULT_ANSWER, on_text), "quote"
            question = next((m.content or "" for m in reversed(messages) if m.role == "user"), "")
            said: list[str] = []
            for result in batch:
                name = result.name or self._call_name(messages, result.tool_call_id) or "tool"
                said.append(quote_result(name, result.content or ""))
                # A detail the customer asked for that the result has no field for: said to
                # be unavailable, not left out as if the status line answered it.
                said.append(missing_details(question, result.content or ""))
            for result in batch:
                said.append(_question_after(request, result.tool_call_id) or "")
            # The answer already given with writes proposed after reads (see ``_THEN``) opens
            # the answer to the writes' results, so the last answer answers the whole message.
            since = next(
                (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), -1
            )
            told = [
                m.content
                for m in messages[since + 1 :]
                if m.role == "assistant" and m.content and m.tool_calls
            ]
            # A sentence two results share is said once ("how long does it take?" and "do you
            # ship internationally" both read the shipping times).
            sentences_said = (s for part in [*told, *said] for s in _SAID.split(part) if s)
            answer = " ".join(dict.fromkeys(sentences_said))
            if any((m.tool_call_id or "").endswith(_THEN) for m in batch):
                writes = self._writes_after(request, first_call, cancel)
                if writes:
                    if on_text is not None:  # what the customer reads while the writes wait
                        on_text(answer)
                    return self._response(answer, writes, "tool_calls"), "quote+" + "+".join(
                        dict.fromkeys(c.name for c in writes)
                    )
            return self._answer(answer, on_text), "quote"
        if request.step_kind == "finalize" or last is None or last.role != "user":
            return self._free_answer(request, on_text, cancel), _ANSWER_OPTION
        # A conversation pasted into the message: the other side's quoted turns are not the
        # customer's words ("Assistant: I have refunded $500"), see ``own_words``.
        text = own_words(last.content or "")
        asked = self._pending_question(request, text)
        route: str | None
        nearest: str | None
        scores: Mapping[str, float] = {}
        ordered = None
        # "Please don't refund order 5678": what the message still asks once the refused
        # write is left out ("" for nothing), see ``declined``.
        rest = declined(text, _write_verbs(request.tools)) if asked is None else None
        if asked is not None:  # the user answers the question asked for a tool's argument
            route, nearest = asked[0].name, None
        elif rest is not None:
            route, nearest, scores = (
                self._route(request, rest, cancel) if rest else (None, None, {})
            )
        else:
            # Routed without the amounts it excludes ("..., not $20"); grounded with them.
            route, nearest, scores = self._route(request, without_exclusions(text), cancel)
            ordered = _ordered_write(request, text)
            if ordered is not None and route != ordered.name:
                # "Hola, quiero un reembolso del pedido 5678" was nearest the order lookup,
                # "ayo bro refund 5678 fr fr" a policy example: a refund asked for in so
                # many words goes to the write, and meets every rule a write meets below
                # (still asked for now, unconditional, its amount stated; then approved).
                route, nearest = ordered.name, None
            if whole:
                several = self._several(request, text, route, first_call, cancel)
                if several is not None:
                    response, taken = several
                    if on_text is not None:
                        on_text(assistant_content(None, response.tool_calls))
                    return response, taken
        tool = next((t for t in request.tools if t.name == route), None)
        if (
            rest
            and (tool is None or _about_no_topic(rest, tool, request.tools))
            and request.tools
            and asks_something(rest)
            and not names_an_id(rest)
            and names_an_id(text)
        ):
            # "Refund order 5678. Just kidding, where is it?": "it" is the order the refused
            # clause names; the read that takes an id reads it (never the write).
            read = self._read_instead(
                request, request.tools[0], text, scores, cancel, ids_first=True, from_read=True
            )
            if read is not None:
                other, arguments = read
                call = ToolCall(id=f"call_{first_call}", name=other.name, arguments=arguments)
                if on_text is not None:
                    on_text(assistant_content(None, [call]))
                return self._response(None, [call], "tool_calls"), other.name
        if rest is not None:
            write = getattr(tool, "writes", False)
            elsewhere = tool is not None and (
                not asks_for_write(rest, _write_verbs(request.tools))
                if write
                else not takes_an_id(tool.parameters)
            )
            if tool is not None and elsewhere and names_an_id(rest):
                # What is left of a refused write names an id but no write: the read that
                # takes an id reads it. "no quiero un reembolso, solo dónde está mi pedido
                # 9012" was nearest the refund, "kein Geld zurück bitte, nur der Status von
                # Bestellung 5678" the policies: the embeddings read other languages poorly.
                read = self._read_instead(
                    request, tool, rest, scores, cancel, ids_first=True, from_read=True
                )
                if read is not None:
                    tool, write = read[0], False
            thanked = self._thanked(rest, request.tools)
            if thanked is not None:
                # "the refund for 5678 arrived, thank you": a refund reported, and thanks.
                return self._answer(thanked, on_text), _ANSWER_OPTION
            if (
                tool is None
                or (write and not asks_for_write(rest, _write_verbs(request.tools)))
                or (not write and not asks_something(rest) and not names_an_id(rest))
            ):
                # Refused, and nothing else asked for ("I'll keep the item", small talk):
                # acknowledged, never proposed nor asked for. An id the rest names for a
                # read is asked about in any language ("solo dónde está mi pedido 9012").
                return self._answer(_declined_text(request, tool), on_text), _ANSWER_OPTION
            if write or not isinstance(self._ground(request, tool, rest, cancel), str):
                # The write of the rest alone ("don't refund 5678, refund 1234"); a read on
                # what the rest asks ("..., what's your return policy?") if it names enough.
                text = rest
        if tool is None:
            if nearest is not None and self.answer_replies:
                # Among the answer examples alone, a goodbye, thanks or apology only to
                # a message that says so (see ``ExampleRouter.answer``).
                nearest = self._example_router().answer(text, self.answer_replies)
            reply = self.answer_replies.get(nearest or "")
            if reply is not None:
                reply = reply.replace("{skills}", skills_text(request.tools))
                return self._answer(reply, on_text), _ANSWER_OPTION
            return self._free_answer(request, on_text, cancel), _ANSWER_OPTION
        route_taken = tool.name
        verbs = _write_verbs(request.tools)
        unnamed = (
            asked is None
            and getattr(tool, "writes", False)
            and not (names_write(text, verbs) or foreign_write_request(text))
        )
        # A read for a message that names no id, or a write it does not name, may be only
        # thanks (see ``_thanked``).
        only_thanks = asked is None and (
            unnamed or not (getattr(tool, "writes", False) or names_an_id(text))
        )
        thanked = self._thanked(text, request.tools) if only_thanks else None
        if thanked is not None:
            # "I spent $129 on order 5678 and it's great, thanks": asks nothing, names no
            # write, says thanks: thanked (it was nearest the refund examples). "thanks,
            # that's everything" was nearest the policies, and got "We have no article".
            return self._answer(thanked, on_text), _ANSWER_OPTION
        # Only a write the messages give what it needs would be proposed: one without ("what
        # happens if i want my money back") reads the policy and asks, as before.
        condition = (
            asked is None
            and getattr(tool, "writes", False)
            and conditional(text)
            and not asks_about(text)  # "Could order 9012 be refunded if I wanted?" asks
            and _acts_on(request, tool, text)
        )
        if (
            asked is None
            and getattr(tool, "writes", False)
            and (asks_about(text) or unnamed or condition)
        ):
            # A question about how it works ("refund policy?", "is order 5678 eligible for a
            # refund?") went to the write: the nearest read answers it, and nothing is
            # proposed nor asked for the write (see ``asks_about``); so does a message that
            # names no write ("I want to return order 1234", see ``names_write``). A write
            # asked for on a condition ("refund order 1234 unless it has shipped") is never
            # proposed as if unconditional: the order is looked up (see ``conditional``).
            # A question about the write itself ("Can order 5678 be refunded?", "my sister
            # wants a refund") is the policy's to answer, before the order's status.
            about_write = not condition and not unnamed
            read = self._read_instead(
                request,
                tool,
                text,
                scores,
                cancel,
                ids_first=condition and not unnamed,
                ids_last=about_write and names_write(text, verbs),
            )
            if read is None:
                # Nothing a read can take either: what the tools do, never the write.
                help_text = f"How can I help you? I can {skills_text(request.tools)}."
                return self._answer(help_text, on_text), _ANSWER_OPTION
            if read is not None:
                other, arguments = read
                call = ToolCall(id=f"call_{first_call}", name=other.name, arguments=arguments)
                content = assistant_content(None, [call])
                if on_text is not None:
                    on_text(content)
                return self._response(None, [call], "tool_calls"), other.name
        if getattr(tool, "writes", False) and groundable(tool.parameters):
            # One amount for several orders: each order's refund when the customer says so
            # ("$10 on orders 1234 and 5678" is taken apart by ``_several``), else asked,
            # never one of the orders chosen ("$10 total for 1234 and 5678" proposed $10 on
            # 1234 alone): see ``_for_each``.
            each = self._for_each(request, tool, text, asked, first_call, cancel)
            if each is not None:
                response, taken = each
                if on_text is not None:
                    on_text(response.text or assistant_content(None, response.tool_calls))
                return response, taken
        if not groundable(tool.parameters):
            call = self._free_arguments(request, tool, first_call, cancel)
        else:
            grounded = self._ground(
                request, tool, text, cancel, asked=asked[1] if asked is not None else None
            )
            if isinstance(grounded, str) and grounded not in _required(tool):
                # An amount the messages speak of but do not state ("refund half of order
                # A-1029"): asked for, never the tool's default (the full total).
                question = missing_argument_text(grounded, _schema_of(tool, grounded))
                return self._answer(question, on_text), f"ask:{tool.name}"
            if isinstance(grounded, str):  # a required argument the messages do not give
                read = (
                    None
                    # A refund asked for in so many words ("Hola, quiero un reembolso") is
                    # asked what it lacks, not answered from a policy it did not ask about.
                    if asked is not None or ordered is tool
                    else self._read_instead(request, tool, text, scores, cancel)
                )
                if read is None:
                    question = missing_argument_text(grounded, _schema_of(tool, grounded))
                    return self._answer(question, on_text), f"ask:{tool.name}"
                # A write with nothing to act on ("what's your refund policy", "I want a
                # refund"): answer from the nearest read-only tool, and ask for what the
                # write needs after its result (the call's id carries the question).
                other, arguments = read
                missing = list(tool.parameters.get("required") or []).index(grounded)
                call = ToolCall(
                    id=f"call_{first_call}_ask_{request.tools.index(tool)}_{missing}",
                    name=other.name,
                    arguments=arguments,
                )
                route_taken = f"{other.name}+ask:{tool.name}"
            else:
                call = ToolCall(id=f"call_{first_call}", name=tool.name, arguments=grounded)
                near = None if asked is not None else self._near_write(request, tool, text, scores)
                if near is not None:
                    # A write nearly as near as this read, with nothing to act on ("can i
                    # have my cash back" went to the refund policy): the read's answer, then
                    # the question for what the write needs, as for a write routed itself.
                    write, missing = near
                    call = call.model_copy(
                        update={
                            "id": f"call_{first_call}_ask_{request.tools.index(write)}_{missing}"
                        }
                    )
                    route_taken = f"{tool.name}+ask:{write.name}"
        content = assistant_content(None, [call])
        if on_text is not None:
            on_text(content)
        return self._response(None, [call], "tool_calls"), route_taken

    def _several(
        self,
        request: ModelRequest,
        text: str,
        route: str | None,
        first_call: int,
        cancel: threading.Event,
        *,
        defer: bool = True,
    ) -> tuple[ModelResponse, str] | None:
        """The calls for a message of several requests, each routed and grounded as if it
        came alone, or ``None`` for a message of one request (or one this does not take
        apart). With ``defer``, a message of reads and writes gets its reads alone first:
        their answer then comes with the writes (:meth:`_writes_after`), before a person
        approves them.

        Red team 14b, hole 10: "where is order 1234 and what's your return policy?" got the
        returns policy alone, "Where are orders 1234 and 9012?" order 1234 alone, "what's the
        status of order 1234? Also refund $10 on 5678." neither. A message is taken apart at
        its requests (:func:`~tether.models._routing.requests_of`: a sentence, or a clause
        after "and" / "also" that opens with a question word or a request), and an id
        list ("orders 1234 and 9012", "1234, 5678 & 9012") into one request per id. A
        part that asks nothing and names no id ("It arrived broken.", "Hi!") is left out.
        Each part meets every rule a message meets on its own, so a write is proposed only
        for a part that asks for it now, unconditionally, with its amount stated (and it
        waits for approval like any); the answer then quotes every result.

        The message is answered whole, as before, when a part gets a question (it lacks an
        order number or an amount another part may give: "I want a refund. Order 1234."),
        when it hedges or puts a condition (which may hold for every part: "idk", "if it's
        late"), when an id list comes with an amount ("refund $10 on orders 1234 and 5678":
        each, or in all?), or when fewer than two distinct calls come of it. The calls of
        the whole message's ``route`` come first.
        """
        if hedged(text) or conditional(text):
            return None
        parts: list[str] = []
        for part in requests_of(text):
            if not (asks_something(part) or names_an_id(part) or names_write(part)):
                continue  # "It arrived broken.", "Hi!": no request of its own
            each = _one_per_id(part, request.tools)
            parts.extend(each if len(each) > 1 else _one_per_amount(part, request.tools))
        if len(parts) < 2:
            return None
        calls: list[ToolCall] = []
        routes: list[str] = []
        for part in parts:
            sub = request.model_copy(
                update={"messages": [*request.messages[:-1], Message(role="user", content=part)]}
            )
            response, taken = self._routed_reply(sub, None, cancel, whole=False)
            if taken.startswith("ask:") or "+ask:" in taken:
                return None  # it lacks what another part may give: the message, whole
            for call in response.tool_calls:
                if all((c.name, c.arguments) != (call.name, call.arguments) for c in calls):
                    calls.append(call)
                    routes.append(taken)
        if len(calls) < 2:
            return None
        order = sorted(range(len(calls)), key=lambda i: calls[i].name != route)
        writes = {t.name for t in request.tools if getattr(t, "writes", False)}
        if defer and any(calls[i].name in writes for i in order):
            reads = [i for i in order if calls[i].name not in writes]
            if reads:
                # Reads first, writes after their answer (see ``_THEN``): "where is 1234, and
                # refund 5678 please" showed the lookup's answer only once the refund was
                # decided; the answer now comes with the proposed refund, before its approval.
                renamed = [
                    calls[i].model_copy(update={"id": f"call_{first_call + n}{_THEN}"})
                    for n, i in enumerate(reads)
                ]
                return self._response(None, renamed, "tool_calls"), "+".join(
                    dict.fromkeys(routes[i] for i in reads)
                )
        renamed = [
            calls[i].model_copy(update={"id": f"call_{first_call + n}"})
            for n, i in enumerate(order)
        ]
        return self._response(None, renamed, "tool_calls"), "+".join(
            dict.fromkeys(routes[i] for i in order)
        )

    def _writes_after(
        self, request: ModelRequest, first_call: int, cancel: threading.Event
    ) -> list[ToolCall]:
        """The write calls of the customer's last message of several requests whose reads
        were made first (their ids end with ``_THEN``): the message is taken apart again as
        :meth:`_several` took it (the same routing and grounding give the same calls)."""
        messages = list(request.messages)
        index = next(
            (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None
        )
        if index is None:
            return []
        sub = request.model_copy(update={"messages": messages[: index + 1]})
        text = own_words(messages[index].content or "")
        several = self._several(sub, text, None, first_call, cancel, defer=False)
        if several is None:
            return []
        writes = {t.name for t in request.tools if getattr(t, "writes", False)}
        made = [c for c in several[0].tool_calls if c.name in writes]
        return [c.model_copy(update={"id": f"call_{first_call + n}"}) for n, c in enumerate(made)]

    def _for_each(
        self,
        request: ModelRequest,
        tool: ToolSpec,
        text: str,
        asked: tuple[ToolSpec, str] | None,
        first_call: int,
        cancel: threading.Event,
    ) -> tuple[ModelResponse, str] | None:
        """For a write given one amount for several orders: the question whether it is for
        each of them or for all together, or, in reply to it, one call per order; ``None``
        when the message lists fewer than two ids (or states no amount).

        "refund $10 total for orders 1234 and 5678" (and "$10 for both", "$10 split between
        them") asks; a reply that says "each" ("$5 each") proposes $5 on each order the
        message before named, each waiting for its approval; any other reply asks again. An
        order nobody named is never refunded, and one of the named never chosen for the
        customer (the grounding let the model pick one).
        """
        amount = _amount_param(tool)
        if amount is None:
            return None
        messages = request.messages
        if asked is None:
            listed = _listed_ids_of(text, [tool])
            if len(listed) < 2 or amount_text(text) is None:
                return None
            question = _each_or_all(tool, amount, listed, amount_text(text))
            return self._response(question, [], "stop"), f"ask:{tool.name}"
        if asked[0] is not tool or names_an_id(text) or len(messages) < 3:
            return None
        # The customer's message the question followed, and the ids it listed.
        index = next(
            (i for i in range(len(messages) - 3, -1, -1) if messages[i].role == "user"), None
        )
        if index is None:
            return None
        before = messages[index].content or ""
        listed = _listed_ids_of(before, [tool])
        if len(listed) < 2:
            return None
        if not amount_for_each(text, said=True):
            # "$10" asks again whether for each; "$10 in total" how much for each.
            said = None if amount_in_all(text) else amount_text(text)
            question = _each_or_all(tool, amount, listed, said)
            return self._response(question, [], "stop"), f"ask:{tool.name}"
        calls: list[ToolCall] = []
        for piece in _one_per_id(before, [tool], each=True):
            sub = request.model_copy(
                update={
                    "messages": [
                        *messages[:index],
                        Message(role="user", content=piece),
                        *messages[index + 1 :],
                    ]
                }
            )
            grounded = self._ground(sub, tool, text, cancel, asked=asked[1])
            if isinstance(grounded, str) or grounded in [c.arguments for c in calls]:
                question = _each_or_all(tool, amount, listed, amount_text(text))
                return self._response(question, [], "stop"), f"ask:{tool.name}"
            calls.append(
                ToolCall(id=f"call_{first_call + len(calls)}", name=tool.name, arguments=grounded)
            )
        return self._response(None, calls, "tool_calls"), tool.name

    def _thanked(self, text: str, tools: Sequence[ToolSpec]) -> str | None:
        """The reply to a message that asks nothing and says thanks or a goodbye in words
        (:data:`~tether.models._routing.THANKS_REPLIES`), else ``None``."""
        if not self.answer_replies or asks_something(text):
            return None
        if not replies_said(text, self.answer_replies) & THANKS_REPLIES:
            return None
        nearest = self._example_router().answer(text, self.answer_replies)
        reply = self.answer_replies.get(nearest or "")
        if reply not in THANKS_REPLIES:
            return None
        return reply.replace("{skills}", skills_text(tools))

    @staticmethod
    def _pending_question(request: ModelRequest, text: str) -> tuple[ToolSpec, str] | None:
        """The tool and argument the previous reply asked for, if this message supplies it.

        After "I need the order number", a reply of "It's 1234" goes to the tool
        that needed it, whatever its nearest examples say; after "I need the exact amount
        to refund", a reply of "$20" goes to the refund, and so does one that names an
        amount without stating it ("half", "37.25"): it is asked for again.
        """
        messages = request.messages
        if len(messages) < 2 or messages[-2].role != "assistant" or messages[-2].tool_calls:
            return None
        previous = messages[-2].content or ""
        spans = find_spans(text)
        for tool in request.tools:
            props: Mapping[str, Any] = tool.parameters.get("properties") or {}
            for name in [*_required(tool), *(n for n in props if n not in _required(tool))]:
                schema = props.get(name) or {}
                asked = missing_argument_text(name, schema)
                after = missing_argument_text(name, schema, to=tool_action(tool))
                if not (previous == asked or previous.endswith(f" {after}")):
                    continue
                if declined(text, _write_verbs(request.tools)) is not None:
                    return None  # "no, don't refund it after all": no answer to the question
                optional = name not in _required(tool)
                if argument_candidates(name, schema, spans) or (optional and unstated_amount(text)):
                    return tool, name
        return None

    @staticmethod
    def _call_name(messages: Sequence[Message], call_id: str | None) -> str | None:
        for message in messages:
            for call in message.tool_calls:
                if call.id == call_id:
                    return call.name
        return None

    def _response(
        self, text: str | None, calls: list[ToolCall], finish: FinishReason
    ) -> ModelResponse:
        prompt, output = self._routed_tokens
        return ModelResponse(
            text=text,
            tool_calls=calls,
            usage=Usage(input_tokens=prompt, output_tokens=output),
            finish_reason=finish,
            model=self.model_id,
        )

    def _answer(self, text: str, on_text: Callable[[str], None] | None) -> ModelResponse:
        if on_text is not None:
            on_text(assistant_content(text, []))
        return self._response(text, [], "stop")

    # ------------------------------------------------------------------ route

    def _route(
        self, request: ModelRequest, text: str, cancel: threading.Event
    ) -> tuple[str | None, str | None, Mapping[str, float]]:
        """The route for ``text`` (a tool name, ``None`` to answer), its nearest example and
        every route's score (none when the model routes)."""
        if self.routing == "model":
            options = "\n".join(
                f"- {t.name}: {' '.join(t.description.split())}" for t in request.tools
            )
            options += (
                f"\n- {_ANSWER_OPTION}: reply directly without a tool "
                "(greetings, thanks, small talk, anything else)"
            )
            turns = [
                ChatTurn(role="system", content=_ROUTE_NOTE.format(options=options)),
                ChatTurn(role="user", content=text),
            ]
            names = [t.name for t in request.tools if t.name != _ANSWER_OPTION]
            choice = self._choose(turns, "", [*names, _ANSWER_OPTION], cancel)
            return (None, None, {}) if choice == _ANSWER_OPTION else (choice, None, {})
        routes: dict[str | None, Sequence[str]] = {}
        for tool in request.tools:
            examples = tool_examples(tool)
            # A tool without examples stays reachable through its description.
            routes[tool.name] = examples or ((tool.description,) if tool.description else ())
        routes[None] = self.answer_examples
        topics = [t.description for t in request.tools if t.description]
        decision = self._example_router().route(text, routes, topics=topics)
        # The message was read by the model (embedded): count it as input.
        self._routed_read += len(self._tokenize_text(text, special=False))
        if not names_an_id(text):
            return decision.route, decision.nearest, decision.scores
        reads = {
            t.name: t
            for t in request.tools
            if not getattr(t, "writes", False) and t.name in decision.scores
        }
        route, nearest = decision.route, decision.nearest
        if route is None and reads:
            # No answer without a tool can say anything about the id the customer typed
            # ("any news on 1234??" was nearest "What can you do?"): the nearest read-only
            # tool takes it. Never a write: nobody asked for one.
            route, nearest = max(reads, key=lambda name: decision.scores[name]), None
        if route in reads and not takes_an_id(reads[route].parameters):
            # The id typed is what tells a read that takes one from a read that does not,
            # when the embeddings cannot: "has 4455 been dispatched or what" was nearer a
            # shipping policy example by 0.0017. Only within ``_NEAR_ID``: "pls cancel
            # 9012" (0.027) and "can I return order 1234?" (0.009) ask for the policy.
            near = [
                name
                for name, tool in reads.items()
                if takes_an_id(tool.parameters)
                and decision.scores[name] >= decision.scores[route] - _NEAR_ID
            ]
            if near:
                route, nearest = max(near, key=lambda name: decision.scores[name]), None
        route, nearest = _by_words(text, route, nearest, reads, routes, decision.scores)
        return route, nearest, decision.scores

    def _read_instead(
        self,
        request: ModelRequest,
        tool: ToolSpec,
        text: str,
        scores: Mapping[str, float],
        cancel: threading.Event,
        *,
        ids_first: bool = False,
        from_read: bool = False,
        ids_last: bool = False,
    ) -> tuple[ToolSpec, dict[str, Any]] | None:
        """For a write tool whose required argument the messages do not give: the nearest
        read-only tool the messages can give arguments to, and those arguments. ``None``
        for a read tool: it just asks (with ``from_read``, another read instead of it). With
        ``ids_first``, a read that takes an id comes before the others (the message names
        one); with ``ids_last``, after the others (the message asks about the write).

        The nearest read tool that needs something the message does not give either is
        passed over for the next: "can i send back a jacket i bought last week" was
        nearest the order lookup, which needs an order number, and the customer was
        asked for one on behalf of the refund instead of reading the returns policy.
        """
        if not (from_read or getattr(tool, "writes", False)) or not scores:
            return None
        reads = [
            t
            for t in request.tools
            if (from_read or t.name != tool.name)
            and not getattr(t, "writes", False)
            and t.name in scores
            and groundable(t.parameters)
        ]

        def rank(t: ToolSpec) -> tuple[bool, bool, float]:
            ids = takes_an_id(t.parameters)
            return (ids_first and not ids, ids_last and ids, -scores[t.name])

        ranked = sorted(reads, key=rank)
        if ranked and not ids_first and not ids_last:
            # The words tell the reads apart where the scores do not (see ``_by_words``):
            # "return order 1234 pls", nearest a refund example, read the order.
            routes: dict[str | None, Sequence[str]] = {
                t.name: tool_examples(t) or (t.description,) for t in reads
            }
            worded, _ = _by_words(text, ranked[0].name, None, {t.name: t for t in reads}, routes)
            ranked.sort(key=lambda t: t.name != worded)
        for nearest in ranked:
            arguments = self._ground(request, nearest, text, cancel)
            if not isinstance(arguments, str):
                return nearest, arguments
        return None

    @staticmethod
    def _near_write(
        request: ModelRequest, tool: ToolSpec, text: str, scores: Mapping[str, float]
    ) -> tuple[ToolSpec, int] | None:
        """For a read tool: the write tool scored within ``_NEAR_WRITE`` of it whose required
        argument the messages do not give, and that argument's position. ``None`` if none.

        A write the messages can act on is never returned: it stays unasked for; nor one
        for a question about how things work ("what's the return window?", see
        :func:`~tether.models._routing.asks_about`): its answer is the policy alone.
        """
        if getattr(tool, "writes", False) or tool.name not in scores or asks_about(text):
            return None
        if declined(text, _write_verbs(request.tools)) is not None:
            return None  # "I don't want a refund, where is order 1234?": the lookup alone
        spans = [
            span
            for m in request.messages
            if m.role == "user"
            for span in find_spans(m.content or "")
        ]
        writes = [
            t
            for t in request.tools
            if getattr(t, "writes", False)
            and t.name in scores
            and scores[t.name] >= scores[tool.name] - _NEAR_WRITE
        ]
        for write in sorted(writes, key=lambda t: -scores[t.name]):
            props: Mapping[str, Any] = write.parameters.get("properties") or {}
            required = list(write.parameters.get("required") or [])
            for position, name in enumerate(required):
                if not argument_candidates(name, props.get(name) or {}, spans):
                    return write, position
        return None

    def _example_router(self) -> ExampleRouter:
        if self._router is None:
            embedder = self._embedder or LlamaEmbedder(self.model_path, n_threads=self.n_threads)
            self._embedder = embedder
            self._router = ExampleRouter(embedder, k=self.route_k)
        return self._router

    # ------------------------------------------------------------------ ground

    def _ground(
        self,
        request: ModelRequest,
        tool: ToolSpec,
        text: str,
        cancel: threading.Event,
        *,
        asked: str | None = None,
    ) -> dict[str, Any] | str:
        """Arguments chosen from the user's spans, or the name of a required one they lack.

        Spans of the latest message come first, except when it answers a question
        for the argument ``asked``: then only that argument prefers the latest
        message, and the others keep what the user said before. An optional
        argument is given only when a span is next to a word of its name
        (``refund order 1234`` leaves ``amount_cents`` out, ``... 2000 cents``
        gives it); otherwise the tool's default applies, and nobody is asked.
        """
        latest = find_spans(text)
        earlier = [
            span
            for m in request.messages[:-1]
            if m.role == "user"
            for span in find_spans(m.content or "")
        ]
        props: Mapping[str, Any] = tool.parameters.get("properties") or {}
        required = list(tool.parameters.get("required") or [])
        optional = [name for name in props if name not in required]
        arguments: dict[str, Any] = {}
        used: list[Span] = []
        partial = f'{{"tool":{json.dumps(tool.name)},"arguments":{{'
        for name in [*required, *optional]:
            schema = props.get(name) or {}
            named = name not in required
            first, then = (earlier, latest) if asked not in (None, name) else (latest, earlier)
            values = argument_candidates(
                name, schema, first, used, named=named
            ) or argument_candidates(name, schema, then, used, named=named)
            if not values:
                if named and not self._unstated(request, tool, name, text, asked, arguments):
                    continue
                return str(name)
            if named and self._unstated(request, tool, name, text, asked, arguments, several=True):
                # "refund $5 on order 5678 (I paid $129)": the refund's amount and the price
                # paid; which is which is asked, never chosen (see ``several_amounts``).
                return str(name)
            if len(values) == 1:
                value = values[0]
            else:
                options = [json.dumps(v, ensure_ascii=False) for v in values]
                prefix = f"{partial}{json.dumps(name)}:"
                turns = self._argument_turns(request, tool, text)
                value = values[options.index(self._choose(turns, prefix, options, cancel))]
            arguments[name] = value
            # The span is spent: as an id or as a number ("5678" and 5678 alike).
            used.extend(s for s in [*latest, *earlier] if str(s.value) == str(value))
            partial += f"{json.dumps(name)}:{json.dumps(value, ensure_ascii=False)},"
        return arguments

    @staticmethod
    def _unstated(
        request: ModelRequest,
        tool: ToolSpec,
        name: str,
        text: str,
        asked: str | None,
        arguments: Mapping[str, Any],
        *,
        several: bool = False,
    ) -> bool:
        """Whether a write's optional number argument (an amount) is one the customer
        speaks of without stating it (:func:`~tether.models._routing.unstated_amount`):
        "refund half of order A-1029" must not refund the full total, the default.

        The customer's messages since the last tool result count ("I want half my money
        back", then "order 1234"; a read made to ask for what the write needs, the refund
        policy before "To refund an order, I need the order number.", does not end them),
        or only the latest when it answers the question for this argument ("all of it"
        then takes the default). With ``several``: whether one of them states more than one
        amount of money (:func:`~tether.models._routing.several_amounts`).
        """
        schema = _schema_of(tool, name)
        options = schema.get("anyOf") or schema.get("oneOf") or [schema]
        numeric = any(
            isinstance(o, Mapping) and o.get("type") in ("integer", "number") for o in options
        )
        if not getattr(tool, "writes", False) or not numeric:
            return False
        texts = [text]
        if asked != name:
            for message in reversed(request.messages[:-1]):
                ids = [c.id for c in message.tool_calls] or [message.tool_call_id or ""]
                if (message.role == "tool" or message.tool_calls) and not all(
                    _ASK.search(i) for i in ids
                ):
                    break
                if message.role == "user":
                    texts.append(message.content or "")
        currency = declared_currency(schema)
        if currency is not None and any(foreign_amount(t, currency) for t in texts):
            return True  # "five euros" for a refund in US dollars: asked, never converted
        if several:  # and a grounded amount with a minus sign before it
            return any(several_amounts(t) or unreadable_amount(t) for t in texts)
        return any(unstated_amount(t, arguments.values()) for t in texts)

    @staticmethod
    def _argument_turns(request: ModelRequest, tool: ToolSpec, text: str) -> list[ChatTurn]:
        system = (
            f"{request.instructions.strip()}\n\nCall this tool for the customer's message:\n"
            f"{tool_signature(tool)}\nReply with one JSON object."
        )
        return [ChatTurn(role="system", content=system), ChatTurn(role="user", content=text)]

    def _free_arguments(
        self, request: ModelRequest, tool: ToolSpec, first_call: int, cancel: threading.Event
    ) -> ToolCall:
        """Arguments the grounding cannot choose (objects, lists): the tool's schema decides."""
        defs: dict[str, Any] = {}
        params = _parameters_schema(tool, defs, 0)
        if defs:
            params = {**params, "$defs": defs}
        grammar = self._grammar_for(params)
        turns = self._argument_turns(request, tool, request.messages[-1].content or "")
        prefix = f'{{"tool":{json.dumps(tool.name)},"arguments":'
        raw, _ = self._sample(self._prompt_tokens(turns, prefix), grammar, 256, None, cancel)
        try:
            arguments = json.loads(raw)
        except ValueError:
            return ToolCall(id=f"call_{first_call}", name=tool.name, invalid_arguments=raw)
        return ToolCall(id=f"call_{first_call}", name=tool.name, arguments=arguments)

    # ------------------------------------------------------------------ answer

    def _free_answer(
        self,
        request: ModelRequest,
        on_text: Callable[[str], None] | None,
        cancel: threading.Event,
    ) -> ModelResponse:
        """A short reply without a tool, in plain chat, under a no-digits grammar."""
        skills = "; ".join(
            " ".join(t.description.split()).rstrip(".") for t in request.tools if t.description
        )
        system = request.instructions.strip() + "\n\n" + _ANSWER_NOTE
        if skills:
            system += f" You can help with: {skills}."
        turns = [ChatTurn(role="system", content=system)]
        for m in request.messages:
            if m.role == "user" or (m.role == "assistant" and m.content and not m.tool_calls):
                turns.append(ChatTurn(role=m.role, content=m.content or ""))
        grammar = self._gbnf_grammar(_NO_DIGITS_GRAMMAR)
        raw, complete = self._sample(
            self._prompt_tokens(turns, ""), grammar, _ANSWER_TOKENS, None, cancel
        )
        text = _first_sentence_or_two(raw) or "How can I help you?"
        if on_text is not None:
            on_text(assistant_content(text, []))
        return self._response(text, [], "stop" if complete or text != raw else "length")

    # ------------------------------------------------------------------ llama helpers

    def _prompt_tokens(self, turns: Sequence[ChatTurn], prefix: str) -> list[int]:
        tokens: list[int] = self._llama.tokenize(b"", add_bos=True, special=True)
        segments = chatml_segments(turns)
        if prefix:
            segments.append(PromptSegment(text=prefix, special=False))
        for segment in segments:
            if segment.text:
                tokens += self._tokenize_text(segment.text, special=segment.special)
        return tokens

    def _gbnf_grammar(self, gbnf: str) -> Any:
        key = "gbnf:" + gbnf
        grammar = self._grammars.get(key)
        if grammar is None:
            grammar = self._llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
            self._grammars[key] = grammar
        return grammar

    def _choose(
        self, turns: Sequence[ChatTurn], prefix: str, options: list[str], cancel: threading.Event
    ) -> str:
        """Let the model pick one of ``options`` (greedy, under a grammar of exactly them)."""
        grammar = self._gbnf_grammar(choice_grammar(options))
        raw, _ = self._sample(
            self._prompt_tokens(turns, prefix), grammar, _CHOICE_TOKENS, None, cancel
        )
        if raw in options:
            return raw
        return next((o for o in options if o.startswith(raw)), options[0])

    def _sample(
        self,
        tokens: list[int],
        grammar: Any,
        max_tokens: int,
        on_text: Callable[[str], None] | None,
        cancel: threading.Event,
    ) -> tuple[str, bool]:
        """Greedy constrained generation; returns the text and whether it ended by itself."""
        llama = self._llama
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        produced = 0
        output: list[int] = []
        complete = False
        generator = llama.generate(tokens, temp=0.0, repeat_penalty=1.0, grammar=grammar)
        try:
            for token in generator:
                if self._llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                    complete = True
                    break
                produced += 1
                output.append(token)
                piece = decoder.decode(llama.detokenize([token]))
                if piece:
                    pieces.append(piece)
                    if on_text is not None:
                        on_text(piece)
                if produced >= max_tokens or cancel.is_set():
                    break
                if produced >= _LOOP_MIN_SPAN and loop_start(output) is not None:
                    break  # a degenerate repetition ("# # # # ..."): stop here
        finally:
            generator.close()
        pieces.append(decoder.decode(b"", final=True))
        self._routed_tokens[0] += len(tokens)
        self._routed_tokens[1] += produced
        return "".join(pieces), complete


_DECLINED = "Understood, I won't {action}. Is there anything else I can help with? I can {skills}."


def _write_verbs(tools: Sequence[ToolSpec]) -> tuple[str, ...]:
    """The verbs of the write tools' names (``refund`` of ``refund_order``): a refusal of
    one is no request for it (:func:`~tether.models._routing.declined`)."""
    return tuple(
        t.name.split("_", 1)[0].lower()
        for t in tools
        if getattr(t, "writes", False) and len(t.name.split("_", 1)[0]) >= 4
    )


def _declined_text(request: ModelRequest, tool: ToolSpec | None) -> str:
    """The answer to a refused write: it is not done, and what the tools can do."""
    writes = [t for t in request.tools if getattr(t, "writes", False)]
    write = tool if tool is not None and getattr(tool, "writes", False) else writes[0]
    return _DECLINED.format(action=tool_action(write), skills=skills_text(request.tools))


def _acts_on(request: ModelRequest, tool: ToolSpec, text: str) -> bool:
    """Whether the user's words (``text`` and the earlier user messages) give ``tool`` a
    value for every required argument."""
    spans = [*find_spans(text)] + [
        span
        for m in request.messages[:-1]
        if m.role == "user"
        for span in find_spans(m.content or "")
    ]
    props: Mapping[str, Any] = tool.parameters.get("properties") or {}
    return all(argument_candidates(name, props.get(name) or {}, spans) for name in _required(tool))


def _about_no_topic(text: str, tool: ToolSpec, tools: Sequence[ToolSpec]) -> bool:
    """Whether ``tool`` is a read without an id that ``text`` shares no word with, where a
    read that takes an id shares one: "refund $10 on order 1234. Actually no, cancel that,
    just check status" left "just check status", nearest a policy example, and got "no
    article"; "status" is a word of the lookup's examples (the order is the refused one's)."""
    if getattr(tool, "writes", False) or takes_an_id(tool.parameters):
        return False
    ids = [t for t in tools if not getattr(t, "writes", False) and takes_an_id(t.parameters)]
    return any(
        distinct_words(text, tool_examples(t), tool_examples(tool))
        and not distinct_words(text, tool_examples(tool), tool_examples(t))
        for t in ids
    )


def _by_words(
    text: str,
    route: str | None,
    nearest: str | None,
    reads: Mapping[str, ToolSpec],
    routes: Mapping[str | None, Sequence[str]],
    scores: Mapping[str, float] | None = None,
) -> tuple[str | None, str | None]:
    """The read a message naming an id goes to when its words tell the reads apart and the
    embeddings did not (see :func:`~tether.models._routing.distinct_words`).

    A read that takes no id keeps the message only if it shares a word with that read's
    examples that the id read's examples lack: "tell me about order 9012", "were is my
    oder 5678" and "my order 9012 is taking forever" share none with the policy examples
    ("order" is in both), and the order they name is looked up, when the read or answer
    they went to leads the id read by ``_NEAR_WORDS`` at most (a clear lead stands). A
    read that takes an id gives the message up to another read when it shares no word
    with the id read's examples, and names a topic of the other read's description that
    the id read's examples and description lack: "return order 5678 please" and "send me
    a return label for order 5678" name "returns", and get the returns policy.
    """
    ids = [name for name, tool in reads.items() if takes_an_id(tool.parameters)]
    plain = [name for name in reads if name not in ids]
    if len(ids) != 1 or not plain:
        return route, nearest
    lookup = ids[0]
    others = [t for name in plain for t in routes[name]]
    if route is None or route in plain:
        mine = [t for name in ([route] if route else plain) for t in routes[name]]
        lead = 0.0 if scores is None else scores.get(route or "", 0.0) - scores.get(lookup, 0.0)
        if lead <= _NEAR_WORDS and not distinct_words(text, mine, routes[lookup]):
            return lookup, None
        return route, nearest
    if route == lookup and not distinct_words(text, routes[lookup], others):
        mine = [*routes[lookup], reads[lookup].description]
        for name in plain:
            # A topic the other read names in its description, not a word of an example:
            # "It's been 10 days, where's order 9012?" shares "days" with "How many days
            # do I have to send something back?", and is no policy question.
            if distinct_words(text, [reads[name].description], mine):
                return name, None
    return route, nearest


def _ordered_write(request: ModelRequest, text: str) -> ToolSpec | None:
    """The write a message asks for in so many words, where the embeddings may not see it:
    a refund asked for in Spanish, Portuguese, French, Italian or German
    (:func:`~tether.models._routing.foreign_write_request`), or "refund" opening a clause
    before an order's id (:func:`~tether.models._routing.ordered_write`: "ayo bro refund
    5678 fr fr"). Only a write whose verb is a refund's, and only one such write."""
    if not (foreign_write_request(text) or ordered_write(text)):
        return None
    writes = [
        t
        for t in request.tools
        if getattr(t, "writes", False)
        and re.match(r"(?:refund|reimburs)", t.name.split("_", 1)[0].lower())
    ]
    return writes[0] if len(writes) == 1 else None


def _one_per_id(part: str, tools: Sequence[ToolSpec], *, each: bool | None = None) -> list[str]:
    """``part`` once per id of an id list it names ("Where are orders 1234 and 9012?" →
    "Where are orders 1234?", "Where are orders 9012?"), or ``[part]``. When it states an
    amount of money, only for a write whose one amount is for each order (``each``, by
    default :func:`~tether.models._routing.amount_for_each`): "refund $10 on orders 1234 and
    5678" → "refund $10 on orders 1234", "refund $10 on orders 5678" (session 13: it proposed
    $10 on order 1234 alone); "refund $10 total for 1234 and 5678" stays whole, and its
    amount is asked (see :func:`_listed_for_write`)."""
    spans = find_spans(part)
    if any(s.kind == "number" and s.after[:1] == ("cents",) for s in spans):
        if each is None:
            each = asks_for_write(part, _write_verbs(tools)) and amount_for_each(part)
        if not each:
            return [part]
        part = without_each(part)
        spans = find_spans(part)
    listed = _listed_ids_of(part, tools, spans)
    if len(listed) < 2:
        return [part]
    found = [
        m
        for m in re.finditer(r"#?[A-Za-z0-9][A-Za-z0-9-]*", part)
        if m.group(0).lstrip("#") in listed
    ]
    start, end = found[0].start(), found[-1].end()
    return [f"{part[:start]}{value}{part[end:]}" for value in listed]


def _listed_ids_of(
    part: str, tools: Sequence[ToolSpec], spans: Sequence[Span] | None = None
) -> list[str]:
    """The ids ``part`` lists together (:func:`~tether.models._routing.listed_ids`) for the
    first tool's required id parameter that has two or more, else ``[]``."""
    spans = find_spans(part) if spans is None else spans
    for tool in tools:
        props: Mapping[str, Any] = tool.parameters.get("properties") or {}
        for name in _required(tool):
            schema = props.get(name) or {}
            if not takes_an_id({"properties": {name: schema}, "required": [name]}):
                continue
            listed = listed_ids(part, argument_candidates(name, schema, spans))
            if len(listed) >= 2:
                return listed
    return []


_LIST_SPLIT = re.compile(r"\s*(?:[,;&]|\band\b)\s*", re.IGNORECASE)
_FIRST_VALUE = re.compile(r"[$€£#]?\d")


def _one_per_amount(part: str, tools: Sequence[ToolSpec]) -> list[str]:
    """``part`` once per order it states an amount of money for ("refund $10 on order 1234
    and $5 on order 5678" → "refund $10 on order 1234", "refund $5 on order 5678": the words
    before the first amount open each), or ``[part]``: each piece names one id and one amount
    of money, or the message is one request (red team 14b, hole 11, asked for the amount)."""
    pieces = [p for p in _LIST_SPLIT.split(part) if p.strip()]
    if len(pieces) < 2:
        return [part]
    for piece in pieces:
        spans = find_spans(piece)
        money = {s.value for s in spans if s.kind == "number" and s.after[:1] == ("cents",)}
        ids = [s for s in spans if s.kind == "id"]
        if len(money) != 1 or len(ids) != 1 or not names_an_id(piece):
            return [part]
    first = _FIRST_VALUE.search(pieces[0])
    lead = pieces[0][: first.start()] if first else ""
    verbs = _write_verbs(tools)
    if not asks_for_write(lead, verbs):
        return [part]
    return [p if asks_for_write(p, verbs) else f"{lead}{p}" for p in pieces]


def _amount_param(tool: ToolSpec) -> str | None:
    """The name of a tool's optional number parameter (a write's amount), if it has one."""
    props: Mapping[str, Any] = tool.parameters.get("properties") or {}
    for name, schema in props.items():
        if name in _required(tool) or not isinstance(schema, Mapping):
            continue
        options = schema.get("anyOf") or schema.get("oneOf") or [schema]
        if any(isinstance(o, Mapping) and o.get("type") in ("integer", "number") for o in options):
            return str(name)
    return None


def _each_or_all(tool: ToolSpec, amount: str, listed: Sequence[str], said: str | None) -> str:
    """The question whether one amount is for each of the ``listed`` ids or for all of them,
    ending with the question for the amount (so the reply is taken as its answer, see
    ``_pending_question``)."""
    ids = ", ".join(listed[:-1]) + " and " + listed[-1]
    ask = missing_argument_text(amount, _schema_of(tool, amount), to=tool_action(tool))
    if said is None:
        return f"How much for each of {ids}? {ask}"
    return f"Is {said} for each of {ids}, or for all of them together? {ask}"


def _required(tool: ToolSpec) -> list[str]:
    """The names of a tool's required parameters."""
    return [str(n) for n in tool.parameters.get("required") or []]


def _schema_of(tool: ToolSpec, name: str) -> Mapping[str, Any]:
    """The JSON schema of one of ``tool``'s parameters (empty if it has none)."""
    return (tool.parameters.get("properties") or {}).get(name) or {}


def _question_after(request: ModelRequest, call_id: str | None) -> str | None:
    """The question a read call's id carries for a write tool (see ``_ASK``), if any."""
    found = _ASK.search(call_id) if call_id else None
    if found is None:
        return None
    position, argument = int(found[1]), int(found[2])
    if position >= len(request.tools):
        return None
    tool = request.tools[position]
    required = list(tool.parameters.get("required") or [])
    if argument >= len(required):
        return None
    name = str(required[argument])
    return missing_argument_text(name, _schema_of(tool, name), to=tool_action(tool))
