"""Start the test bed's control plane by hand: ``python -m testbed up``.

It builds (or reuses) the binaries, starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok with fake nodes on loopback (and, with --argo-rollouts, the Argo
Rollouts controller with its CRDs), prints how to reach them, and keeps them running until
Ctrl-C or SIGTERM, then stops them all and removes its folder (unless --keep).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from testbed.argo import ArgoRollouts
from testbed.assets import AssetsUnavailable, locate
from testbed.controlplane import ControlPlane


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a control plane and keep it running")
    up.add_argument("--nodes", type=int, default=3, help="fake kwok nodes (default 3)")
    up.add_argument("--folder", type=Path, help="working folder (default: a new temporary one)")
    up.add_argument("--keep", action="store_true", help="keep the folder (logs, audit) at exit")
    up.add_argument(
        "--argo-rollouts", action="store_true", help="also run the Argo Rollouts controller"
    )
    commands.add_parser("assets", help="build or find the binaries and print their folder")
    args = parser.parse_args(argv)
    try:
        assets = locate()
    except AssetsUnavailable as error:
        print(f"testbed: {error}", file=sys.stderr)
        return 1
    if args.command == "assets":
        print(assets)
        return 0
    folder = args.folder or Path(tempfile.mkdtemp(prefix="cortex-events-testbed-"))
    signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: stop everything, then exit
    plane = ControlPlane(assets, folder, nodes=args.nodes, keep_folder=args.keep)
    try:
        plane.start()
        if args.argo_rollouts:
            argo = ArgoRollouts(plane)
            argo.install()
            argo.start()
        print(f"Control plane up at {plane.server} with {args.nodes} kwok nodes.")
        print(f"  export KUBECONFIG={plane.admin_kubeconfig}")
        print(f"  export PATH={assets}:$PATH   # kubectl, helm")
        print(f"  logs and audit log in {folder}")
        print("Ctrl-C stops it.", flush=True)
        while not (dead := plane.dead_components()):
            time.sleep(1)
        print(f"testbed: {', '.join(dead)} exited; stopping", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"testbed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        plane.stop()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
