namespace Invalidator.Worker.Tests.Architecture.CycleA;

/// <summary>Half of the dependency tests' deliberate cycle: names <see cref="CycleB.Second"/> in a field only.</summary>
internal sealed class First
{
    private readonly CycleB.Second? _second = null;

    public override string ToString() => _second?.ToString() ?? nameof(First);
}
