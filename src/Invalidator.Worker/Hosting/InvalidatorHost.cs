using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Invalidator.Worker.Hosting;

/// <summary>
/// Builds the worker's host: <c>appsettings.json</c> (or the <c>--config</c> file instead), then
/// <c>Invalidator__*</c> environment variables, then the command line.
/// </summary>
internal static class InvalidatorHost
{
    public static HostApplicationBuilder CreateBuilder(string[] args, string? configFile = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args,
            ContentRootPath = ContentRoot(),
        });
        if (configFile is not null)
        {
            // --config replaces appsettings.json (a deployment's file must not mix with the one beside the binary);
            // environment variables and the command line still override it.
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(args);
        }

        // Defaults under every other source, so appsettings.json, the environment or the command line can change them:
        // no line per HTTP request (probes and scrapes would fill the log, and a request's path and Host are the
        // caller's text).
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LoggingDefaults });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        // Every log line of every command goes to stderr: stdout is a command's output (audit --json: JSON only).
        // Configured after the host's defaults, so no Logging:Console setting can send it back to stdout.
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.AddInvalidator();
        return builder;
    }

    private static readonly Dictionary<string, string?> LoggingDefaults = new()
    {
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
    };

    /// <summary>The working directory when it holds appsettings.json (dotnet run from the repository), else the binary's folder.</summary>
    private static string ContentRoot() =>
        File.Exists(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"))
            ? Directory.GetCurrentDirectory()
            : AppContext.BaseDirectory;
}
