"""``python -m tools.k8s_check``: see tools/k8s_check/check.py."""

from tools.k8s_check.check import main

raise SystemExit(main())
