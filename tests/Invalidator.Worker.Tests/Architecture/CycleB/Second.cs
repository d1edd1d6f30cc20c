namespace Invalidator.Worker.Tests.Architecture.CycleB;

/// <summary>The other half of the deliberate cycle: names <see cref="CycleA.First"/> only inside a lambda's body.</summary>
internal sealed class Second
{
    public Func<object> Make { get; } = static () => new CycleA.First();
}
