"""One thin module per DVC stage: ``run(params, args)`` wires params to the library code."""
