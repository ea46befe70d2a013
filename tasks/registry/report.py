"""What the champion gate shows people: a markdown page in Prefect with the table and the decision."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore.compare import Decision


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
    if run_link:
        shown = f"[{run_link}]({run_link})" if run_link.startswith("http") else run_link
        lines += ["", f"MLflow run: {shown}"]
    if version_link:
        lines += ["", f"Model version: [{name} v{version}]({version_link})"]
    return "\n".join(lines) + "\n"


@task(name="publish-decision", cache_policy=NO_CACHE)
def publish_decision(
    decision: Decision, name: str, version: str, run_link: str = "", version_link: str | None = None
) -> str:
    """A Prefect markdown artifact with the gate's table and decision, linking the MLflow run and version."""
    from prefect.artifacts import create_markdown_artifact

    markdown = decision_markdown(decision, name, version, run_link, version_link)
    create_markdown_artifact(markdown=markdown, key="champion-gate", description=f"{name} v{version}")
    return markdown
