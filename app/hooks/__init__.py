"""Webhooks in and out (issue 13): inbound sources whose alerts open and update tickets
(`/v1/hooks/{key}`), and outbound subscriptions whose signed deliveries the outbox feeds
(`/v1/webhooks/...`)."""
