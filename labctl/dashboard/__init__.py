"""`labctl dashboard`: the lab drawn from its lab file and animated from the running lab in a
local web page (model.py pure, poller.py reads nodes, runs.py follows scenario runs, app.py
serves it all)."""
