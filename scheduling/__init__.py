"""Service scheduling: resources with working calendars, services with
requirements, slot search, and the appointment lifecycle. Pure: no I/O, no
clock; the gateway's store and API (gateway/scheduling_api.py) wrap it."""

from scheduling.appointments import AppointmentStatus, Reschedule, transition
from scheduling.calendars import ALWAYS_OPEN, Calendar, WeeklyHours
from scheduling.errors import IllegalTransition, InvalidModel, SchedulingError, SlotTaken
from scheduling.model import Kind, Requirement, Resource, Service
from scheduling.search import Booking, Schedule, SearchRequest, Slot

__all__ = [
    "ALWAYS_OPEN",
    "AppointmentStatus",
    "Booking",
    "Calendar",
    "IllegalTransition",
    "InvalidModel",
    "Kind",
    "Requirement",
    "Reschedule",
    "Resource",
    "Schedule",
    "SchedulingError",
    "SearchRequest",
    "Service",
    "Slot",
    "SlotTaken",
    "WeeklyHours",
    "transition",
]
