"""The participants' handout of a protocol, as Markdown and as a printable HTML page.

The handout's fixed parts (consent and withdrawal, fitting the headset,
checking the signal, running a session, connection problems, sending data
back) are in the packaged ``protocols/EEG4Students.md``; its sections 2 (what
happens in a session: length and task orders) and 3 (the tasks and their
instructions) are written from the protocol file, so a handout always
matches the protocol it is given with. The packaged file is the handout of
the EEG4Students protocol itself.
"""

from __future__ import annotations

import html
import re
import textwrap
from importlib import resources

from eeg4students.protocol import Protocol

#: Seconds the signal check usually takes before the first task.
CHECK_SECONDS = 60.0
#: Line length of the Markdown written.
WIDTH = 76
_SECTION_RE = re.compile(r"^## (\d+)\. .*$", re.MULTILINE)


def _template() -> str:
    return (resources.files("eeg4students") / "protocols" / "EEG4Students.md").read_text(
        encoding="utf-8"
    )


def _duration(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "one minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} seconds"


def _count(n: int) -> str:
    words = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    return words[n] if n < len(words) else str(n)


def _session_section(protocol: Protocol) -> str:
    n = len(protocol.tasks)
    total = (
        CHECK_SECONDS
        + protocol.lead_in_seconds
        + n * protocol.task_seconds
        + (n - 1) * protocol.rest_seconds
    )
    rows = "\n".join(
        f"| {label} | {', '.join(order)} |" for label, order in protocol.sessions.items()
    )
    intro = (
        f"A session lasts about {max(1, round(total / 60))} minutes: a short signal check, "
        f"then **{_count(n)} tasks of {_duration(protocol.task_seconds)} each** with a short "
        "rest between them. The order of the tasks depends on the session number:"
    )
    return (
        "## 2. What happens in a session\n\n"
        f"{textwrap.fill(intro, WIDTH)}\n\n"
        "| session | order |\n| --- | --- |\n"
        f"{rows}\n\n"
        "The screen tells you which task is next, what to do, and counts down the\n"
        "seconds. You do not need to remember the order.\n"
    )


def _tasks_section(protocol: Protocol) -> str:
    items = "\n".join(
        textwrap.fill(f"{i}. **{task.name}**: {task.instruction}", WIDTH, subsequent_indent="   ")
        for i, task in enumerate(protocol.tasks, 1)
    )
    return (
        f"## 3. The {_count(len(protocol.tasks))} tasks\n\n"
        "Sit comfortably, feet on the floor, and keep your head and jaw still during\n"
        "every task: moving them disturbs the signal more than anything you think.\n\n"
        f"{items}\n"
    )


def handout_markdown(protocol: Protocol) -> str:
    """The handout for participants, teachers and session runners, in Markdown.

    Parameters
    ----------
    protocol : Protocol
        The protocol (:func:`eeg4students.protocol.load_protocol`).

    Returns
    -------
    text : str
        Markdown: consent and withdrawal, the session (length, task orders of
        every session), the tasks with their instructions, fitting the
        headset, the signal check, running a session at school or at home,
        connection problems, sending data back.
    """
    template = _template()
    starts = [m.start() for m in _SECTION_RE.finditer(template)]
    head, sections = template[: starts[0]], []
    for start, end in zip(starts, [*starts[1:], len(template)], strict=True):
        sections.append(template[start:end])
    generated = {"2": _session_section(protocol), "3": _tasks_section(protocol)}
    out = []
    for section in sections:
        number = _SECTION_RE.match(section).group(1)
        out.append(generated[number] + "\n" if number in generated else section)
    title = head.replace("# EEG4Students:", f"# {protocol.name}:", 1)
    return (title + "".join(out)).rstrip("\n") + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  @page {{ size: A4; margin: 18mm 16mm; }}
  body {{ font: 11pt/1.45 Georgia, "Times New Roman", serif; color: #111;
         max-width: 46em; margin: 2em auto; padding: 0 1em; }}
  h1 {{ font-size: 1.7em; margin-bottom: 0.2em; }}
  h2 {{ font-size: 1.2em; margin-top: 1.4em; border-bottom: 1px solid #999;
        break-after: avoid; page-break-after: avoid; }}
  table {{ border-collapse: collapse; margin: 0.6em 0; }}
  th, td {{ border: 1px solid #888; padding: 0.2em 0.7em; text-align: left; }}
  code, pre {{ font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 0.9em; }}
  pre {{ background: #f3f3f3; padding: 0.6em; white-space: pre-wrap; break-inside: avoid; }}
  li {{ margin: 0.2em 0; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def handout_html(protocol: Protocol) -> str:
    """The handout as one printable, self-contained HTML page (A4, no external files).

    Parameters
    ----------
    protocol : Protocol
        The protocol.

    Returns
    -------
    page : str
        HTML5 with its style sheet inside.
    """
    import markdown

    body = markdown.markdown(handout_markdown(protocol), extensions=["tables", "fenced_code"])
    return _PAGE.format(title=html.escape(f"{protocol.name}: the recording protocol"), body=body)
