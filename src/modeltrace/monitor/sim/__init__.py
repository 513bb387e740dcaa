"""The pieces of the log simulator; :func:`modeltrace.monitor.simulate.simulate` puts them together."""
