"""Who someone is and what they may do: accounts, sessions, single sign-on, access rules, mail."""
