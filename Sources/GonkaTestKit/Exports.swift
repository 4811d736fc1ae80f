// The simulator, TestChain and SplitMix64 moved to the `Simulation` library so `gonka bench` can use
// them without linking this test kit; tests keep reaching them through `import GonkaTestKit`.
@_exported import Simulation
