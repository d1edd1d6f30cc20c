using Invalidator.Worker.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Hosting;

/// <summary>
/// Runs a change source only when <c>Invalidator:Source</c> selects it. An unselected source is never
/// constructed, so a Postgres deployment builds no Kafka clients and needs no Kafka settings.
/// </summary>
internal sealed class SelectedChangeSource<TSource> : IHostedService, IDisposable
    where TSource : class, IHostedService
{
    private readonly IHostedService? _source;

    public SelectedChangeSource(IServiceProvider services, ChangeSourceKind kind)
    {
        var selected = services.GetRequiredService<IOptions<InvalidatorOptions>>().Value.Source;
        _source = selected == kind ? ActivatorUtilities.CreateInstance<TSource>(services) : null;
    }

    public Task StartAsync(CancellationToken cancellationToken) => _source?.StartAsync(cancellationToken) ?? Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => _source?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public void Dispose() => (_source as IDisposable)?.Dispose();
}
