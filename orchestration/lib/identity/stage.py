"""The identity stage: link every loaded record to a person and research ID, then
measure the linkage against ground truth when a generated data set supplies it
(SLEDS_GROUND_TRUTH or the demo's ground_truth folder). One Dagster step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib import paths
from orchestration.lib.identity.accuracy import compute_accuracy, ground_truth_dir, headline, write_report
from orchestration.lib.identity.pipeline import IdentityReport, run_identity


@dataclass
class IdentityStageReport:
    run: IdentityReport
    accuracy: dict
    report_path: Path

    @property
    def headline(self) -> dict:
        return {k: v for k, v in headline(self.run.as_dict(), self.accuracy).items() if v is not None}


def link_identities(
    *, retrain: bool = False, rescore: bool = False, progress: Callable[[str], None] = lambda m: None
) -> IdentityStageReport:
    run = run_identity(
        paths.warehouse_path(), paths.vault_path(), paths.sleds_home(), retrain=retrain, rescore=rescore,
        progress=progress,
    )  # fmt: skip
    accuracy = compute_accuracy(paths.warehouse_path(), paths.vault_path(), ground_truth_dir())
    return IdentityStageReport(run, accuracy, write_report(run.as_dict(), accuracy))
