"""The central service: ZeroMQ ingest, a store, and the traffic engineers' API and dashboard."""
