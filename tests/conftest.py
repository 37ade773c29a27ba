"""Test-run order: files holding a slow test first.

The run is spread over the machine's cores a file to a worker (pytest.ini), handed out in
collection order; a long file collected last would end the run alone on one core. The
sort is stable, so the order within each group stays as collected.
"""


def pytest_collection_modifyitems(items):
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
