"""What pages show, computed from contract data: charts, reports, labels, landing pages."""
