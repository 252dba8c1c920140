"""Mail in: parsing raw RFC 5322 messages, threading them onto tickets, loops and
bounces, and the LMTP listener of `supportline mail-in`."""
