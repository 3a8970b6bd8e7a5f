"""Reading extension modules without running them: ELF, binding toolkits, wheels."""
