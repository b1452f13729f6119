"""The Dockerfile read as its stages and their instructions (there is no Docker daemon here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]

    def sources(self) -> list[str]:
        """What its COPY instructions take from the build context (not from other stages)."""
        return [
            source
            for rest in self.args("COPY")
            if not rest.startswith("--from=")
            for source in rest.split()[:-1]
            if not source.startswith("--")
        ]

    def copied_stages(self) -> list[str]:
        """The stages its ``COPY --from=`` instructions take files from."""
        return [
            word.removeprefix("--from=")
            for rest in self.args("COPY")
            for word in rest.split()
            if word.startswith("--from=")
        ]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its instructions (continuations joined)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            words = rest.split()
            base = words[0]
            for arg, default in global_args.items():
                base = base.replace(f"${{{arg}}}", default).replace(f"${arg}", default)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif not stages and instruction == "ARG":
            arg, _, default = rest.partition("=")
            global_args[arg] = default
        else:
            stages[-1].instructions.append((instruction, rest))
    return global_args, stages


def read_stages(path: Path = ROOT / "Dockerfile") -> list[Stage]:
    return parse_dockerfile(path.read_text())[1]


def lineage(stages: list[Stage], target: str) -> list[Stage]:
    """The stage ``target`` and the stages it is built FROM, the first base first."""
    by_name = {stage.name: stage for stage in stages if stage.name}
    found = [by_name[target]]
    while found[0].base in by_name:
        found.insert(0, by_name[found[0].base])
    return found


def contributors(stages: list[Stage], target: str) -> list[Stage]:
    """Every stage whose files can reach the image of ``target``: its lineage, and the
    lineages of the stages it copies from, over and over."""
    seen: dict[str, Stage] = {}
    todo = [target]
    while todo:
        for stage in lineage(stages, todo.pop()):
            key = stage.name or f"#{stages.index(stage)}"
            if key not in seen:
                seen[key] = stage
                todo.extend(stage.copied_stages())
    return list(seen.values())


def instructions_of(stages: list[Stage], target: str) -> Stage:
    """The image of ``target`` as one stage: the instructions of its lineage in order."""
    chain = lineage(stages, target)
    return Stage(chain[0].base, target, [pair for stage in chain for pair in stage.instructions])
