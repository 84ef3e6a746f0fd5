"""The dashboard's heartbeat: turns the poller's readings and the followed run into frames
(state, new events, run view, new probe records) and hands each to every connected page."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any

from labctl.dashboard import model
from labctl.dashboard.poller import Poller
from labctl.dashboard.runs import RunFollower

TICK = 0.5  # files are cheap to read: the strip and the countdown move twice a second
HISTORY = 60.0  # seconds of probe strip a newly connected page gets
EVENTS_KEPT = 50


class Hub:
    def __init__(self, poller: Poller, follower: RunFollower | None) -> None:
        self.poller = poller
        self.follower = follower
        self.lab = poller.lab
        self.picture = model.picture(self.lab)
        # Before the first poll the lab is "being read", neither up nor down.
        self.state: dict[str, Any] = {"t": time.time(), "up": None, "why": "reading the lab", "nodes": {}, "vips": {}}
        self.run: dict[str, Any] | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self._seen: model.LabReading | None = None
        self._had_state = False
        self._queues: set[asyncio.Queue[str]] = set()

    def hello(self) -> dict[str, Any]:
        """Everything a page needs on connecting."""
        recent = self.follower.recent_probes(time.time() - HISTORY) if self.follower else []
        return {
            "type": "hello",
            "now": time.time(),
            "picture": self.picture,
            "state": self.state,
            "events": list(self.events),
            "run": self.run,
            "probes": recent,
        }

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=100)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._queues.discard(queue)

    def tick(self) -> dict[str, Any] | None:
        """One step: a frame when something changed, else None. Blocking file reads: run it in a
        thread."""
        now = time.time()
        fresh_events: list[dict[str, Any]] = []
        changed = False
        reading = self.poller.latest()
        if reading is not None and reading is not self._seen:
            self._seen = reading
            new_state = model.state(self.lab, reading)
            fresh_events = model.events(self.state if self._had_state else None, new_state)
            self._had_state = True
            changed = _without_time(new_state) != _without_time(self.state)
            self.state = new_state
        probes: list[list[Any]] = []
        if self.follower is not None:
            run, probes = self.follower.poll(now)
            fresh_events += self._narration_events(run)
            if run != self.run:
                changed = True
            self.run = run
        self.events.extend(fresh_events)
        if not (changed or fresh_events or probes):
            return None
        return {
            "type": "update",
            "now": now,
            "state": self.state,
            "events": fresh_events,
            "run": self.run,
            "probes": probes,
        }

    def _narration_events(self, run: dict[str, Any] | None) -> list[dict[str, Any]]:
        """A new narration line of the followed run joins the event list too."""
        if not run or not run.get("narration"):
            return []
        if self.run and self.run.get("name") == run["name"] and self.run.get("narration") == run["narration"]:
            return []
        return [{"t": time.time(), "kind": "narration", "text": run["narration"], "level": "info"}]

    def publish(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, default=str)
        for queue in list(self._queues):
            if queue.full():
                # A page that stopped reading is dropped rather than buffered forever.
                self._queues.discard(queue)
                continue
            queue.put_nowait(text)

    async def run_forever(self) -> None:
        while True:
            frame = await asyncio.to_thread(self.tick)
            if frame is not None:
                self.publish(frame)
            await asyncio.sleep(TICK)


def _without_time(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "t"}
