"""Entry point for one ARQ worker process."""

from __future__ import annotations

from arq.worker import run_worker

from workers.settings import WorkerSettings


def main() -> None:
    run_worker(WorkerSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
