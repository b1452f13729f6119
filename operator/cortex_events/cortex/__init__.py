"""The Cortex API: its surface (`api`), the HTTP client, models, errors, rate limit, retries."""
