"""What the champion gate shows people: a markdown page in Prefect with the table and the decision."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore.checks.compare import Decision


def decision_markdown(
    decision: Decision, name: str, version: str, run_link: str = "", version_link: str | None = None
) -> str:
    """The page a person reads in Prefect: champion vs challenger, the decision and why."""
    figures = decision.figures
    champion = figures.get("champion_version", float("nan"))
    champion_version = None if champion != champion else str(int(champion))
    verdict = "**Promoted** to `champion`" if decision.promote else "**Not promoted**"

    def fmt(key: str) -> str:
        value = figures.get(key)
        return "–" if value is None or value != value else f"{value:.4f}"

    lines = [
        f"# Champion gate: `{name}` version {version}",
        "",
        f"{verdict}: {decision.reason}",
        "",
        "| | version | accuracy |",
        "|---|---|---|",
        f"| challenger | {version} | {fmt('challenger_accuracy')} |",
        f"| champion | {champion_version or 'none'} | {fmt('champion_accuracy')} |",
        "",
        f"Accuracy difference {fmt('diff')}, interval [{fmt('diff_low')}, {fmt('diff_high')}], "
        f"{int(figures.get('n_pairs', 0))} eval pairs.",
    ]
    lines += checks_markdown(decision)
    if run_link:
        shown = f"[{run_link}]({run_link})" if run_link.startswith("http") else run_link
        lines += ["", f"MLflow run: {shown}"]
    if version_link:
        lines += ["", f"Model version: [{name} v{version}]({version_link})"]
    return "\n".join(lines) + "\n"


def checks_markdown(decision: Decision) -> list[str]:
    """The slice and length-bias checks as a table, the blocking ones marked; [] when none ran."""
    slices = [c for c in decision.checks if c.get("check") == "slice"]
    length = next((c for c in decision.checks if c.get("check") == "length_bias"), None)
    if not slices and length is None:
        return []
    blocked = ", ".join(f"`{b}`" for b in decision.blocked_by) or "nothing"
    lines = [
        "",
        f"Blocked by: {blocked}.",
        "",
        "| slice | pairs | diff | interval | verdict |",
        "|---|---|---|---|---|",
    ]
    for c in slices:
        verdict = "**regresses**" if c["regressed"] else "ok" if c["checked"] else "too few pairs"
        interval = f"[{c['low']:+.3f}, {c['high']:+.3f}]"
        lines.append(f"| {c['name']} | {c['n']} | {c['diff']:+.3f} | {interval} | {verdict} |")
    if length is not None:
        verdict = "**worse**" if length["worse"] else "ok"
        lines += [
            "",
            f"Length bias, Spearman(reward, reply length): challenger {length['challenger']:+.3f}, champion "
            f"{length['champion']:+.3f}, rise {length['increase']:+.3f} (allowed {length['max_increase']}): {verdict}.",
        ]
    return lines


@task(name="publish-decision", cache_policy=NO_CACHE)
def publish_decision(
    decision: Decision, name: str, version: str, run_link: str = "", version_link: str | None = None
) -> str:
    """A Prefect markdown artifact with the gate's table and decision, linking the MLflow run and version."""
    from prefect.artifacts import create_markdown_artifact

    markdown = decision_markdown(decision, name, version, run_link, version_link)
    create_markdown_artifact(markdown=markdown, key="champion-gate", description=f"{name} v{version}")
    return markdown
