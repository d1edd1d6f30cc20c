using System.Diagnostics.Metrics;
using Invalidator.Core.Rules;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Events;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Http;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Invalidator.Worker.Sources;
using Invalidator.Worker.Sources.Kafka;
using Invalidator.Worker.Sources.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Invalidator.Worker.Hosting;

/// <summary>One <c>AddX</c> per concern, so a host (or a test) composes the worker from parts.</summary>
internal static class InvalidatorServiceCollectionExtensions
{
    /// <summary>Everything the worker needs: options, rules, regions, the source <c>Invalidator:Source</c> selects, and diagnostics.</summary>
    public static IServiceCollection AddInvalidator(this IServiceCollection services) =>
        services
            .AddInvalidatorOptions()
            .AddInvalidatorDiagnostics()
            .AddInvalidatorHttp()
            .AddInvalidatorRules()
            .AddInvalidatorReplicaChecks()
            .AddInvalidatorRegions()
            .AddInvalidatorDeadLetters()
            .AddInvalidatorProbe()
            .AddInvalidatorKafkaSource()
            .AddInvalidatorPostgresSource();

    public static IServiceCollection AddInvalidatorOptions(this IServiceCollection services)
    {
        services.AddOptions<InvalidatorOptions>()
            .BindConfiguration(InvalidatorOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InvalidatorOptions>, InvalidatorOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InvalidatorOptions>, UnreadRegionsValidator>());
        // The keys the worker knows, which UnknownKeysValidator checks the configuration against.
        services.TryAddSingleton(ConfigurationSchema.Worker);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InvalidatorOptions>, UnknownKeysValidator>());
        return services;
    }

    public static IServiceCollection AddInvalidatorDiagnostics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<WorkerStatus>();
        services.TryAddSingleton(sp =>
        {
            // The exporter's listener first: measurements made before it exists (the zeroed series) would be lost.
            _ = sp.GetService<MeterProvider>();
            var metrics = new InvalidatorMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<IOptions<InvalidatorOptions>>().Value.Regions.Keys);
            metrics.ObserveStatus(sp.GetRequiredService<WorkerStatus>());
            return metrics;
        });
        // What the pipeline publishes, read by the metrics and the status page.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IWorkerEventListener, InvalidatorMetrics>(sp => sp.GetRequiredService<InvalidatorMetrics>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IWorkerEventListener, WorkerStatus>(sp => sp.GetRequiredService<WorkerStatus>()));
        services.TryAddSingleton<WorkerEvents>();
        services.TryAddSingleton<WorkerExit>();
        services.TryAddSingleton<KeyRedaction>();
        // OpenTelemetry's Prometheus exporter reads the Invalidator meter; HttpEndpoints serves it at /metrics.
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("invalidator"))
            .WithMetrics(metrics => metrics.AddMeter(InvalidatorMetrics.MeterName).AddPrometheusExporter());
        return services;
    }

    /// <summary>The HTTP listener (<c>Invalidator:Http</c>): /metrics, /healthz, /readyz, /status.json and the status page.</summary>
    public static IServiceCollection AddInvalidatorHttp(this IServiceCollection services)
    {
        services.AddOptions<HttpOptions>()
            .BindConfiguration(HttpOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.TryAddSingleton<StatusReport>();
        services.TryAddSingleton<HttpEndpoints>();
        services.AddHostedService(sp => sp.GetRequiredService<HttpEndpoints>());
        return services;
    }

    /// <summary>
    /// The rules file: loaded at start (a bad file stops the start with file, line and reason), then reloaded while
    /// the worker runs when it changes or on SIGHUP (<see cref="RulesWatcher"/>); a bad reload is refused and the
    /// rules running keep running. <see cref="RuleSet"/> is the version loaded at start (start-up checks, audit).
    /// </summary>
    public static IServiceCollection AddInvalidatorRules(this IServiceCollection services)
    {
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<InvalidatorOptions>>().Value;
            var environment = sp.GetRequiredService<IHostEnvironment>();
            var path = Path.GetFullPath(options.Rules.Path, environment.ContentRootPath);
            var loaded = LoadedRules.Load(path, sp.GetRequiredService<TimeProvider>().GetUtcNow(), options.Rules.Limits, options.Rules.MaxKeyBytes, options.Probe.Table);
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger(RulesReloader.LogCategory);
            Log.RulesLoaded(logger, path, loaded.Rules.Tables.Values.Count(t => !t.BuiltIn), loaded.Version);
            if (options.Mode == WorkerMode.Shadow)
            {
                Log.ShadowMode(logger);
            }

            RulesReloader.LogShadowRules(logger, loaded.Rules);
            if (ConsistencyOptionsValidation.ValidateRules(loaded.Rules, options.Consistency, options.Source) is { Count: > 0 } failures)
            {
                throw new OptionsValidationException(InvalidatorOptions.SectionName, typeof(InvalidatorOptions), failures);
            }

            var live = new LiveRules(loaded);
            sp.GetRequiredService<InvalidatorMetrics>().ObserveRules(live.InfoMeasurements);
            return live;
        });
        services.TryAddSingleton(sp => sp.GetRequiredService<LiveRules>().Current.Rules);
        services.TryAddSingleton<RulesReloader>();
        services.AddHostedService<RulesWatcher>();
        services.TryAddSingleton(sp => new RecordIntake(
            sp.GetRequiredService<LiveRules>(),
            sp.GetRequiredService<IOptions<InvalidatorOptions>>().Value.Mode,
            sp.GetRequiredService<WorkerEvents>(),
            sp.GetRequiredService<ILogger<RecordIntake>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<KeyRedaction>()));
        return services;
    }

    /// <summary>
    /// The read replicas' start-up checks (<see cref="ReplicaStartupChecks"/>), registered before the sources so that none
    /// starts while a replica is misconfigured.
    /// </summary>
    public static IServiceCollection AddInvalidatorReplicaChecks(this IServiceCollection services)
    {
        services.TryAddSingleton<ReplicaStartupChecks>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaStartupChecks>());
        return services;
    }

    public static IServiceCollection AddInvalidatorRegions(this IServiceCollection services)
    {
        services.TryAddSingleton(RedisErrorClassifier.Default);
        services.TryAddSingleton(sp => RegionSetFactory.Create(
            sp.GetRequiredService<IOptions<InvalidatorOptions>>(),
            sp.GetRequiredService<WorkerEvents>(),
            sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<RedisErrorClassifier>()));
        services.TryAddSingleton<BatchApplier>();
        // The read replicas' wait (off without Invalidator:Consistency:ReadReplicas); polled from the start.
        services.TryAddSingleton<ReplicaWait>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicaWait>());
        return services;
    }

    /// <summary>The freshness probe (<c>Invalidator:Probe</c>); it runs only when enabled.</summary>
    public static IServiceCollection AddInvalidatorProbe(this IServiceCollection services)
    {
        services.TryAddSingleton(_ => Probe.ProbeWorkerName.FromHost());
        services.AddHostedService<Probe.ProbeService>();
        return services;
    }

    /// <summary>
    /// The dead-letter store of the selected source in its three roles, writer, redrive reader and <c>dlq replay</c>
    /// reader (each source registers its own in its <c>AddX</c>), and the one redriver on top of it.
    /// </summary>
    public static IServiceCollection AddInvalidatorDeadLetters(this IServiceCollection services)
    {
        services.TryAddSingleton(Selected<IDeadLetterWriter>);
        services.TryAddSingleton(Selected<IRedriveReader>);
        services.TryAddSingleton(Selected<IDeadLetterReader>);
        services.AddHostedService<RegionRedriver>();
        return services;
    }

    private static TRole Selected<TRole>(IServiceProvider sp)
        where TRole : class
    {
        var source = sp.GetRequiredService<IOptions<InvalidatorOptions>>().Value.Source;
        var choice = sp.GetServices<DeadLetterRole<TRole>>().LastOrDefault(c => c.Source == source)
            ?? throw new InvalidOperationException($"No dead-letter store is registered for Invalidator:Source {source}: add AddInvalidator{source}Source().");
        return choice.Create(sp);
    }

    /// <summary>Registers <typeparamref name="TStore"/> as the dead-letter <typeparamref name="TRole"/> of <paramref name="source"/>.</summary>
    private static IServiceCollection AddDeadLetterRole<TRole, TStore>(this IServiceCollection services, ChangeSourceKind source)
        where TRole : class
        where TStore : class, TRole
    {
        services.TryAddSingleton<TStore>();
        services.AddSingleton(new DeadLetterRole<TRole>(source, sp => sp.GetRequiredService<TStore>()));
        return services;
    }

    /// <summary>The Kafka (Debezium) source and its dead-letter topic; it runs when <c>Invalidator:Source</c> is <c>Kafka</c>.</summary>
    public static IServiceCollection AddInvalidatorKafkaSource(this IServiceCollection services)
    {
        services.TryAddSingleton<SourceHost>();
        services
            .AddDeadLetterRole<IDeadLetterWriter, KafkaDeadLetterWriter>(ChangeSourceKind.Kafka)
            .AddDeadLetterRole<IRedriveReader, KafkaRedriveReader>(ChangeSourceKind.Kafka)
            .AddDeadLetterRole<IDeadLetterReader, KafkaDeadLetterReader>(ChangeSourceKind.Kafka);
        services.AddSourceBound<KafkaChangeSource>(ChangeSourceKind.Kafka);
        return services;
    }

    /// <summary>The direct Postgres replication source and its dead-letter table; it runs when <c>Invalidator:Source</c> is <c>Postgres</c>.</summary>
    public static IServiceCollection AddInvalidatorPostgresSource(this IServiceCollection services)
    {
        services.TryAddSingleton<SourceHost>();
        services.TryAddSingleton<PostgresDeadLetterTable>();
        services
            .AddDeadLetterRole<IDeadLetterWriter, PostgresDeadLetterWriter>(ChangeSourceKind.Postgres)
            .AddDeadLetterRole<IRedriveReader, PostgresRedriveReader>(ChangeSourceKind.Postgres)
            .AddDeadLetterRole<IDeadLetterReader, PostgresDeadLetterReader>(ChangeSourceKind.Postgres);
        services.AddSourceBound<PostgresChangeSource>(ChangeSourceKind.Postgres);
        services.AddSourceBound<DeadLetterPurge>(ChangeSourceKind.Postgres);
        services.AddSourceBound<SlotLagMonitor>(ChangeSourceKind.Postgres);
        // Read-your-writes: the applied position, tracked from the pipeline's events and published in every region.
        services.TryAddSingleton<AppliedPositions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IWorkerEventListener, AppliedPositions>(sp => sp.GetRequiredService<AppliedPositions>()));
        services.AddSourceBound<AppliedPositionWriter>(ChangeSourceKind.Postgres);
        return services;
    }

    /// <summary>Runs <typeparamref name="TService"/> as a hosted service when <c>Invalidator:Source</c> is <paramref name="kind"/>.</summary>
    private static void AddSourceBound<TService>(this IServiceCollection services, ChangeSourceKind kind)
        where TService : class, IHostedService
    {
        services.TryAddSingleton(new SourceBinding<TService>(kind));
        services.AddHostedService<SourceBoundService<TService>>();
    }
}

/// <summary>A source's dead-letter store in one role, registered by the source's <c>AddX</c>; the selected source's serves <typeparamref name="TRole"/>.</summary>
internal sealed record DeadLetterRole<TRole>(ChangeSourceKind Source, Func<IServiceProvider, TRole> Create);
