"""What every layer may use: settings, parsing, translation, clock, errors, folder layout."""
