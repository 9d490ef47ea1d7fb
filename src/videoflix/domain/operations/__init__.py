"""What operators need: an overview of queues, emails and videos, and the periodic housekeeping."""
