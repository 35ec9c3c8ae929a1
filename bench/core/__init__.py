"""The small core every other package stands on: user errors and exit statuses, hashing, and the one place that
decides cpu vs cuda. It imports nothing else of bench."""
