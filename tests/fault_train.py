"""A command-backend training script that fails as its argument says (tests/faults.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faults import inject  # noqa: E402

inject(sys.argv[1], os.environ["RESEARCH_METRICS"])
