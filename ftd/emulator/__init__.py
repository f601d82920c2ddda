"""An emulator of the OpenAI API parts ftd uses, for tests, demos and benchmarks."""
