"""What a run measures beyond accuracy: model cost and forward latency (profile), device use and MFU
(utilization), timing isolation between runs (isolation), and convergence read from the epochs (convergence)."""
