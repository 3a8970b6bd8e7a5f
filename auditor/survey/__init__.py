"""The survey: the packages of a list, each installed alone into throwaway venvs and scanned."""
