using System.Diagnostics.CodeAnalysis;
using System.Text;
using Invalidator.Client;
using Invalidator.Core.Coverage;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using StackExchange.Redis;

namespace Invalidator.Worker.Cli.Audit;

/// <summary>What an audit may cost the servers: reads per second, and at most this many keys per region.</summary>
internal sealed record AuditLimits(double ReadsPerSecond, long? Sample);

/// <summary>
/// Scans one region's keyspace and sorts every key into covered (a key template, a truncate key, or a tag set of a
/// tag some rule invalidates lists it) or not. A lease key <c>L(K)</c> of the lease protocol is covered when its
/// <c>K</c> is: the worker deletes it with <c>K</c>. Read-only, and gentle: SCAN, never KEYS, on every master of a Redis
/// Cluster, SSCAN for tag sets, pipelined PTTL only for the keys nothing covers, all at most
/// <see cref="AuditLimits.ReadsPerSecond"/>.
/// </summary>
internal sealed class KeyspaceAudit(KeyCoverage coverage, AuditLimits limits, TextWriter progress, TimeProvider time)
{
    private const int TtlBatch = 500;

    public async Task<RegionAudit> RunAsync(string region, RegionOptions options, CancellationToken cancellationToken)
    {
        string? rejected = null;
        var configuration = RegionRedisConfiguration.Create(region, options, reason => rejected = reason);
        configuration.AbortOnConnectFail = true;
        configuration.ClientName ??= "invalidator-audit";
        var connection = await ConnectAsync(region, configuration, () => rejected).ConfigureAwait(false);
        await using var disposeConnection = connection.ConfigureAwait(false);
        var masters = Masters(region, connection);
        var database = connection.GetDatabase();
        var prefix = options.KeyPrefix;
        // A COUNT that gives about ten pages a second at the rate, so the pace is smooth.
        var pageSize = (int)Math.Clamp(limits.ReadsPerSecond / 10, 10, 1000);
        var pace = new ScanPace(limits.ReadsPerSecond, time, progress);

        long total = 0;
        foreach (var master in masters)
        {
            total += await master.DatabaseSizeAsync(database.Database).ConfigureAwait(false);
        }

        if (limits.Sample is { } sample)
        {
            total = Math.Min(total, sample);
        }

        await progress.WriteLineAsync(
            $"audit {region}: scanning {string.Join(", ", masters.Select(m => m.EndPoint.ToString()))} (database {database.Database}, " +
            $"key prefix '{prefix}', about {total} keys, at most {limits.ReadsPerSecond:F0} reads/s)").ConfigureAwait(false);

        var scan = new Tally(coverage, prefix);
        var sampled = false;
        var quota = limits.Sample is { } n ? (n + masters.Count - 1) / masters.Count : long.MaxValue;
        var pattern = Glob.Escape(prefix) + "*";
        foreach (var master in masters)
        {
            long fromThisMaster = 0;
            var page = new List<string>(pageSize);
            await foreach (var key in master.KeysAsync(database.Database, pattern, pageSize).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                page.Add(key.ToString());
                if (++fromThisMaster >= quota)
                {
                    sampled = true;
                    break;
                }

                if (page.Count == pageSize)
                {
                    await ClassifyAsync(page).ConfigureAwait(false);
                }
            }

            await ClassifyAsync(page).ConfigureAwait(false);
        }

        async Task ClassifyAsync(List<string> keys)
        {
            foreach (var key in keys)
            {
                scan.Add(key);
            }

            await pace.AdvanceAsync(keys.Count, cancellationToken).ConfigureAwait(false);
            pace.Report(region, "keys scanned", scan.Scanned, total);
            keys.Clear();
        }

        await ReadTagSetsAsync(region, database, scan, pace, pageSize, cancellationToken).ConfigureAwait(false);
        var (uncovered, vanished) = await ReadTtlsAsync(region, database, prefix, scan.Pending, pace, cancellationToken).ConfigureAwait(false);
        var result = new RegionAudit(
            region, prefix, masters.Select(m => m.EndPoint.ToString()!).ToList(), scan.Scanned, scan.CoveredByTemplate, scan.CoveredByTag,
            scan.TagSetKeys.Count, scan.TagMembersRead, vanished, sampled, pace.Elapsed, scan.CoveredByRule, uncovered);
        await progress.WriteLineAsync(
            $"audit {region}: {result.Scanned} keys scanned in {AuditText.Duration(result.Elapsed)} ({pace.Rate:F0} reads/s): " +
            $"{result.CoveredByTemplate + result.CoveredByTag} covered, {uncovered.Keys} uncovered in {AuditText.Count(uncovered.Shapes().Count, "shape")}, " +
            $"{uncovered.WithoutTtl} of them without TTL").ConfigureAwait(false);
        return result;
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(string region, ConfigurationOptions configuration, Func<string?> certificateRejected)
    {
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            var check = certificateRejected() is { } rejected
                ? $"the server's TLS certificate was refused: {rejected}; check Invalidator:Regions:{region}:TlsCaFile"
                : ex.FailureType == ConnectionFailureType.AuthenticationFailure
                    ? $"check Invalidator:Regions:{region}:User and :Password or :PasswordFile, and for TLS ssl=true in :Redis and :TlsCaFile"
                    : $"check Invalidator:Regions:{region}:Redis and that the server runs";
            throw new AuditException(
                $"region {region}: cannot connect to {string.Join(",", configuration.EndPoints)} ({ex.FailureType}{(ex.InnerException is { } inner ? ": " + inner.Message : "")}); {check}");
        }
    }

    /// <summary>The masters to scan: the one server, or every master of a cluster; all must be connected.</summary>
    private static List<IServer> Masters(string region, ConnectionMultiplexer connection)
    {
        var servers = connection.GetServers();
        var masters = servers.Where(s => !s.IsReplica).OrderBy(s => s.EndPoint.ToString(), StringComparer.Ordinal).ToList();
        var down = masters.Where(s => !s.IsConnected).Select(s => s.EndPoint.ToString()).ToList();
        if (masters.Count == 0 || down.Count > 0)
        {
            throw new AuditException(
                $"region {region}: cannot audit, {(masters.Count == 0 ? "no master answered" : "not connected to master(s) " + string.Join(", ", down))}; " +
                "every master must be reachable for a complete scan");
        }

        var noScan = masters.Where(s => !s.Features.Scan).Select(s => $"{s.EndPoint} (Redis {s.Version})").ToList();
        if (noScan.Count > 0)
        {
            // StackExchange.Redis would fall back to KEYS, which blocks the server: never.
            throw new AuditException($"region {region}: {string.Join(", ", noScan)} has no SCAN (Redis 2.8 or newer): the audit never uses KEYS");
        }

        return masters;
    }

    /// <summary>Every member of an invalidatable tag's set is covered: the worker deletes it with the tag.</summary>
    private static async Task ReadTagSetsAsync(string region, IDatabase database, Tally scan, ScanPace pace, int pageSize, CancellationToken cancellationToken)
    {
        var done = 0;
        foreach (var set in scan.TagSetKeys)
        {
            try
            {
                var read = 0;
                await foreach (var member in database.SetScanAsync(set, pageSize: pageSize).WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    scan.CoverMember(member.ToString());
                    if (++read == pageSize)
                    {
                        await pace.AdvanceAsync(read, cancellationToken).ConfigureAwait(false);
                        read = 0;
                    }
                }

                await pace.AdvanceAsync(read, cancellationToken).ConfigureAwait(false);
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("WRONGTYPE", StringComparison.Ordinal))
            {
                // A tag:* name that is no set (the application's own key): judged like any other key.
                scan.NotATagSet(set);
            }

            pace.Report(region, "tag sets read", ++done, scan.TagSetKeys.Count);
        }
    }

    /// <summary>The TTL of every uncovered key, pipelined; a key gone meanwhile is left out.</summary>
    private static async Task<(UncoveredKeys Uncovered, long Vanished)> ReadTtlsAsync(
        string region, IDatabase database, string prefix, IReadOnlyCollection<string> pending, ScanPace pace, CancellationToken cancellationToken)
    {
        var uncovered = new UncoveredKeys();
        long vanished = 0;
        var done = 0;
        foreach (var chunk in pending.Order(StringComparer.Ordinal).Chunk(TtlBatch))
        {
            var ttls = chunk.Select(name => database.ExecuteAsync("PTTL", (RedisKey)(prefix + name))).ToArray();
            await Task.WhenAll(ttls).ConfigureAwait(false);
            for (var i = 0; i < chunk.Length; i++)
            {
                var milliseconds = (long)ttls[i].Result;
                if (milliseconds == -2)
                {
                    vanished++;
                }
                else
                {
                    uncovered.Add(chunk[i], milliseconds < 0 ? null : TimeSpan.FromMilliseconds(milliseconds));
                }
            }

            done += chunk.Length;
            await pace.AdvanceAsync(chunk.Length, cancellationToken).ConfigureAwait(false);
            pace.Report(region, "TTLs of uncovered keys read", done, pending.Count);
        }

        return (uncovered, vanished);
    }

    /// <summary>The scan's running sort: counts of covered keys, the tag sets to read, and the keys still uncovered.</summary>
    private sealed class Tally(KeyCoverage coverage, string prefix)
    {
        /// <summary>What <see cref="CoveredByRule"/> calls keys that only a tag set covers.</summary>
        public const string TagMembers = "(members of those tag sets)";

        /// <summary>What <see cref="CoveredByRule"/> calls lease keys whose cache key is covered.</summary>
        public const string LeaseKeys = "(lease keys of covered keys)";

        // Uncovered lease keys by the name of their cache key, in case a tag set lists that key.
        private readonly Dictionary<string, List<string>> _leasesByKey = new(StringComparer.Ordinal);

        private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
        private readonly Dictionary<string, long> _byRule = new(StringComparer.Ordinal);
        private readonly List<RedisKey> _tagSets = [];

        public long Scanned { get; private set; }

        public long CoveredByTemplate { get; private set; }

        public long CoveredByTag { get; private set; }

        public long TagMembersRead { get; private set; }

        [SuppressMessage("Performance", "CA1859", Justification = "A read-only view of the tally's own list; the audit enumerates it once.")]
        public IReadOnlyList<RedisKey> TagSetKeys => _tagSets;

        /// <summary>Keys (without the prefix) nothing has covered yet.</summary>
        public IReadOnlyCollection<string> Pending => _pending;

        public IReadOnlyDictionary<string, long> CoveredByRule => _byRule;

        public void Add(string key)
        {
            Scanned++;
            var name = key[prefix.Length..];
            if (name.StartsWith(TagSets.Prefix, StringComparison.Ordinal))
            {
                if (coverage.TagCoveredBy(name[TagSets.Prefix.Length..]) is { } tagRule)
                {
                    _tagSets.Add(key);
                    Count(TagSets.Prefix + tagRule);
                }
                else
                {
                    // A set of a tag no rule invalidates: neither it nor (through it) its members ever go.
                    _pending.Add(name);
                }

                return;
            }

            if (LeasedKey(key) is { } leased && leased.StartsWith(prefix, StringComparison.Ordinal))
            {
                var leasedName = leased[prefix.Length..];
                if (coverage.KeyCoveredBy(leasedName) is not null)
                {
                    CoveredByTemplate++;
                    Count(LeaseKeys);
                }
                else
                {
                    _pending.Add(name);
                    (_leasesByKey.TryGetValue(leasedName, out var leases) ? leases : _leasesByKey[leasedName] = []).Add(name);
                }

                return;
            }

            if (coverage.KeyCoveredBy(name) is { } rule)
            {
                CoveredByTemplate++;
                Count(rule);
            }
            else
            {
                _pending.Add(name);
            }
        }

        public void CoverMember(string member)
        {
            TagMembersRead++;
            if (_pending.Remove(member))
            {
                CoveredByTag++;
                Count(TagMembers);
            }

            if (_leasesByKey.Remove(member, out var leases))
            {
                foreach (var lease in leases)
                {
                    if (_pending.Remove(lease))
                    {
                        CoveredByTag++;
                        Count(LeaseKeys);
                    }
                }
            }
        }

        /// <summary>The cache key <c>K</c> whose lease key <c>L(K)</c> this is (the protocol's rule run backwards), or null.</summary>
        private static string? LeasedKey(string key)
        {
            if (!key.EndsWith(LeaseProtocol.LeaseSuffix, StringComparison.Ordinal))
            {
                return null;
            }

            // {K}:lease for a K without braces, else K:lease for a K with a hash tag: whichever the protocol maps back here.
            var body = key[..^LeaseProtocol.LeaseSuffix.Length];
            var candidate = body.Length > 2 && body[0] == '{' && body[^1] == '}' ? body[1..^1] : body;
            return LeaseProtocol.TryGetLeaseKey(candidate, out var lease) && lease == key ? candidate
                : LeaseProtocol.TryGetLeaseKey(body, out lease) && lease == key ? body
                : null;
        }

        public void NotATagSet(RedisKey set)
        {
            var name = set.ToString()[prefix.Length..];
            var tagRule = coverage.TagCoveredBy(name[TagSets.Prefix.Length..])!;
            _byRule[TagSets.Prefix + tagRule]--;
            if (coverage.KeyCoveredBy(name) is { } rule)
            {
                CoveredByTemplate++;
                Count(rule);
            }
            else
            {
                _pending.Add(name);
            }
        }

        private void Count(string rule) => _byRule[rule] = _byRule.GetValueOrDefault(rule) + 1;
    }

    /// <summary>Redis glob patterns: a key prefix is matched literally.</summary>
    private static class Glob
    {
        public static string Escape(string literal)
        {
            var escaped = new StringBuilder(literal.Length);
            foreach (var c in literal)
            {
                if (c is '*' or '?' or '[' or ']' or '\\')
                {
                    escaped.Append('\\');
                }

                escaped.Append(c);
            }

            return escaped.ToString();
        }
    }
}

/// <summary>An audit that cannot run (exit code 2): the message says why and what to do.</summary>
internal sealed class AuditException(string message) : Exception(message);
