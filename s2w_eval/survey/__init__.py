"""Listening surveys: build (batch, task page, answer key), preview, simulate, aggregate."""
