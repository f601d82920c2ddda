"""An emulator of the OpenAI API parts ftd uses, for tests, demos and benchmarks.

Start it as a command (``ftd emulator`` or ``python -m ftd.emulator``), in the
current event loop (:class:`ftd.emulator.server.Emulator`), or as a child
process (:class:`ftd.emulator.process.EmulatorProcess`); change its knobs and
read its request counts with :class:`ftd.emulator.control.EmulatorControl`.
The judge-prompt tag convention is described in :mod:`ftd.emulator.judge`.

Nothing is imported here, so that ``ftd --help`` stays fast.
"""
