"""A consumer of the attendance events that records every envelope it receives, for the tests."""

from torget_shared.handlers import event_handler

recorded: list[dict] = []


class EventRecorder:
    name = "attendance_event_recorder"

    @event_handler("attendance", "absence_registered")
    def on_absence_registered(self, envelope):
        recorded.append(envelope)

    @event_handler("attendance", "absence_registration_withdrawn")
    def on_absence_registration_withdrawn(self, envelope):
        recorded.append(envelope)

    @event_handler("attendance", "absence_reported")
    def on_absence_reported(self, envelope):
        recorded.append(envelope)
