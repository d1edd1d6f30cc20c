using System.Net;
using System.Net.Sockets;
using System.Text;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// What the worker's HTTP surface exposes, on running workers: probes and metrics on <c>Invalidator:Http:Urls</c>, the
/// status page and <c>/status.json</c> only on their own listener (<c>Invalidator:Http:StatusUrls</c>), which answers
/// only the allowed Host names (DNS rebinding); each listener's connection limit; and no log line per request.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class HttpSurfaceTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;

    [Fact]
    public async Task The_status_page_has_its_own_listener_and_probes_and_metrics_stay_on_the_main_one()
    {
        await using var harness = new WorkerHarness(servers, Rules, "http-split");
        await harness.CreateTopicAsync(partitions: 1);
        using var http = new WorkerHttp(await harness.StartAsync());

        Assert.NotEqual(http.BaseAddress.Port, http.StatusAddress.Port);
        await Eventually.AssertAsync(async () => (await http.GetJsonAsync("/readyz")).Status == 200, Deadline, "the probes answer on the main listener");
        Assert.Equal(200, (await http.GetJsonAsync("/healthz")).Status);
        Assert.Contains("invalidator_", await http.MetricsAsync(), StringComparison.Ordinal);
        foreach (var path in new[] { "/", "/status.json" })
        {
            using var notMain = await http.GetAsync(path);
            Assert.True(notMain.StatusCode == HttpStatusCode.NotFound, $"{path} on the main listener: {notMain.StatusCode}");
        }

        var (status, body) = await http.GetStatusJsonAsync();
        Assert.Equal(200, status);
        Assert.Equal("live", body.GetProperty("mode").GetString());
        using var page = await http.GetStatusAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        foreach (var path in new[] { "/metrics", "/healthz", "/readyz" })
        {
            using var notStatus = await http.GetStatusAsync(path);
            Assert.True(notStatus.StatusCode == HttpStatusCode.NotFound, $"{path} on the status listener: {notStatus.StatusCode}");
        }
    }

    [Fact]
    public async Task The_status_listener_refuses_a_Host_it_does_not_allow_and_the_probes_answer_any()
    {
        await using var harness = new WorkerHarness(servers, Rules, "http-hosts");
        await harness.CreateTopicAsync(partitions: 1);
        using var http = new WorkerHttp(await harness.StartAsync());

        // A page of evil.example that re-resolved its name to the worker's address: its requests carry its Host.
        Assert.Equal(400, await StatusCodeAsync(http.StatusAddress, "/status.json", $"evil.example:{http.StatusAddress.Port}"));
        Assert.Equal(400, await StatusCodeAsync(http.StatusAddress, "/", "evil.example"));
        Assert.Equal(400, await StatusCodeAsync(http.StatusAddress, "/status.json", host: null)); // no Host at all
        foreach (var allowed in new[] { "localhost", "127.0.0.1", "[::1]" })
        {
            Assert.Equal(200, await StatusCodeAsync(http.StatusAddress, "/status.json", $"{allowed}:{http.StatusAddress.Port}"));
        }

        // Kubelet probes and Prometheus name the pod by its IP: the main listener answers whatever the Host.
        Assert.Equal(200, await StatusCodeAsync(http.BaseAddress, "/metrics", "10.1.2.3:8080"));
    }

    [Fact]
    public async Task AllowedHosts_names_the_hosts_the_status_listener_answers()
    {
        await using var harness = new WorkerHarness(servers, Rules, "http-allowed");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Http:AllowedHosts"] = "status.internal;*.ops.example";
        using var http = new WorkerHttp(await harness.StartAsync());

        Assert.Equal(200, await StatusCodeAsync(http.StatusAddress, "/status.json", "status.internal"));
        Assert.Equal(200, await StatusCodeAsync(http.StatusAddress, "/status.json", "eu.ops.example:8081"));
        Assert.Equal(400, await StatusCodeAsync(http.StatusAddress, "/status.json", $"localhost:{http.StatusAddress.Port}"));
    }

    [Fact]
    public async Task An_empty_StatusUrls_turns_the_status_page_off()
    {
        await using var harness = new WorkerHarness(servers, Rules, "http-off");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Http:StatusUrls"] = "";
        var host = await harness.StartAsync();

        var endpoints = host.Services.GetRequiredService<HttpEndpoints>();
        Assert.Empty(endpoints.StatusAddresses);
        Assert.Single(endpoints.Addresses);
        Assert.Equal(1, harness.Logs.Count(8062));
    }

    [Fact]
    public async Task Each_listener_keeps_at_most_MaxConcurrentConnections_open()
    {
        await using var harness = new WorkerHarness(servers, Rules, "http-connections");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Http:MaxConcurrentConnections"] = "2";
        using var http = new WorkerHttp(await harness.StartAsync());

        foreach (var address in new[] { http.StatusAddress, http.BaseAddress })
        {
            var path = address == http.StatusAddress ? "/status.json" : "/metrics";
            using var first = await ConnectAsync(address);
            using var second = await ConnectAsync(address);

            // The third connection is closed unanswered while two are open...
            using (var third = await ConnectAsync(address))
            {
                Assert.Null(await TryRequestAsync(third, path, $"localhost:{address.Port}"));
            }

            // ...and once one of them closes, a new connection is served (the control).
            first.Dispose();
            await Eventually.AssertAsync(
                async () =>
                {
                    using var next = await ConnectAsync(address);
                    return await TryRequestAsync(next, path, $"localhost:{address.Port}") is { } response && response.StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
                },
                Deadline,
                $"a connection to {address} is served again below the limit");
        }
    }

    [Fact]
    public async Task Requests_are_not_logged_by_default_and_an_operator_can_turn_them_on()
    {
        // The shipped host (InvalidatorHost) with a --config file that says nothing about logging: the default rules.
        var quiet = await RequestLogAsync("quiet", []);
        Assert.DoesNotContain(quiet, e => e.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) && e.Level < LogLevel.Warning);

        // Control: the same requests with ASP.NET Core's logging raised are logged, one line per request and more.
        var loud = await RequestLogAsync("loud", ["--Logging:LogLevel:Microsoft.AspNetCore=Information"]);
        Assert.Contains(loud, e => e.Category == "Microsoft.AspNetCore.Hosting.Diagnostics" && e.Message.StartsWith("Request starting", StringComparison.Ordinal));
    }

    private async Task<IReadOnlyCollection<LogCapture.Entry>> RequestLogAsync(string name, string[] extraArgs)
    {
        await using var harness = new WorkerHarness(servers, Rules, $"http-log-{name}");
        await harness.CreateTopicAsync(partitions: 1);
        var config = Path.Combine(Path.GetDirectoryName(harness.RulesPath)!, "settings.json");
        var settings = harness.ProcessSettings();
        settings["Invalidator:Rules:Path"] = harness.RulesPath;
        ConfigFile.Write(config, settings);
        var builder = InvalidatorHost.CreateBuilder(extraArgs, config);
        builder.Logging.AddProvider(harness.Logs);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            using var http = new WorkerHttp(host);
            await Eventually.AssertAsync(async () => (await http.GetJsonAsync("/readyz")).Status == 200, Deadline, "the worker is ready");
            _ = await http.MetricsAsync();
            _ = await http.GetStatusJsonAsync();
        }
        finally
        {
            await host.StopAsync();
        }

        return harness.Logs.Entries;
    }

    /// <summary>The status code of a GET with exactly this Host header (none when null), over a raw connection.</summary>
    private static async Task<int> StatusCodeAsync(Uri address, string path, string? host)
    {
        using var client = await ConnectAsync(address);
        var response = await TryRequestAsync(client, path, host) ?? throw new IOException($"{address} closed the connection");
        return int.Parse(response.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<TcpClient> ConnectAsync(Uri address)
    {
        var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        return client;
    }

    /// <summary>The response's head, or null when the server closed the connection without one.</summary>
    private static async Task<string?> TryRequestAsync(TcpClient client, string path, string? host)
    {
        var stream = client.GetStream();
        var request = host is null ? $"GET {path} HTTP/1.0\r\n\r\n" : $"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n";
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return read == 0 ? null : Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (IOException)
        {
            return null; // reset by the server
        }
    }
}
