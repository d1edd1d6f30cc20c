using Invalidator.Worker.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Hosting;

/// <summary>
/// Runs a hosted service of one source (the source itself, or a helper such as the Kafka dead-letter redriver)
/// only when <c>Invalidator:Source</c> selects that source. An unselected one is never constructed, so a
/// Postgres deployment builds no Kafka clients and needs no Kafka settings.
/// </summary>
internal sealed class SourceBoundService<TService> : IHostedService, IDisposable
    where TService : class, IHostedService
{
    private readonly IHostedService? _source;

    public SourceBoundService(IServiceProvider services, SourceBinding<TService> binding)
    {
        _source = SourceSelection.IsSelected(services, binding.Kind) ? ActivatorUtilities.CreateInstance<TService>(services) : null;
    }

    public Task StartAsync(CancellationToken cancellationToken) => _source?.StartAsync(cancellationToken) ?? Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => _source?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public void Dispose() => (_source as IDisposable)?.Dispose();
}

/// <summary>The source whose selection runs <typeparamref name="TService"/> (see <see cref="SourceBoundService{TService}"/>).</summary>
internal sealed record SourceBinding<TService>(ChangeSourceKind Kind)
    where TService : class, IHostedService;

internal static class SourceSelection
{
    /// <summary>Whether <c>Invalidator:Source</c> is <paramref name="kind"/>.</summary>
    public static bool IsSelected(IServiceProvider services, ChangeSourceKind kind) =>
        services.GetRequiredService<IOptions<InvalidatorOptions>>().Value.Source == kind;
}
