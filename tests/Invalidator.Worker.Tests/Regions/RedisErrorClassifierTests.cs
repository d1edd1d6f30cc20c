using Invalidator.Worker.Regions;
using Polly.CircuitBreaker;
using Polly.Timeout;
using StackExchange.Redis;

namespace Invalidator.Worker.Tests.Regions;

public sealed class RedisErrorClassifierTests
{
    private static readonly RedisErrorClassifier Errors = RedisErrorClassifier.Default;

    // The server's error lines, as Redis 7 writes them.
    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory")]
    [InlineData("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")]
    [InlineData("READONLY You can't write against a read only replica.")]
    [InlineData("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")]
    [InlineData("MOVED 3999 127.0.0.1:6381")]
    [InlineData("ASK 3999 127.0.0.1:6381")]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot")]
    [InlineData("CLUSTERDOWN The cluster is down")]
    [InlineData("NOREPLICAS Not enough good replicas to write.")]
    [InlineData("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.")]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.")]
    [InlineData("NOAUTH Authentication required.")]
    public void A_server_error_of_a_passing_state_is_transient_and_no_refusal(string line)
    {
        var error = Server(line);
        Assert.True(Errors.IsTransient(error));
        Assert.False(Errors.IsRefusal(error, out _));
    }

    [Theory]
    [InlineData("WRONGTYPE Operation against a key holding the wrong kind of value")]
    [InlineData("ERR unknown command 'UNLINK', with args beginning with: 'a' ")]
    [InlineData("ERR wrong number of arguments for 'srem' command")]
    [InlineData("CROSSSLOT Keys in request don't hash to the same slot")]
    [InlineData("NOPERM User invalidator has no permissions to access the 'tag:x' key")]
    // Only the first word counts: a command error that mentions a passing state is still a command error.
    [InlineData("ERR LOADING is not a key")]
    [InlineData("ERR")]
    [InlineData("")]
    public void A_command_error_is_a_permanent_refusal_that_names_the_servers_error(string line)
    {
        var error = Server(line);
        Assert.False(Errors.IsTransient(error));
        Assert.True(Errors.IsRefusal(error, out var reason));
        Assert.Equal(line, reason);
    }

    public static TheoryData<Exception> Unavailable => new()
    {
        new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "No connection is active/available to service this operation", null, CommandStatus.Unknown),
        new RedisTimeoutException(CommandFlags.None, "Timeout awaiting response", CommandStatus.Sent),
        new TimeoutException("the attempt took too long"),
        new TimeoutRejectedException("The operation didn't complete within the allowed timeout of '00:00:05'."),
        new BrokenCircuitException("The circuit is now open"),
        new RedisException("something the client could not finish"),
        // A connection failure that carries the server's reply is about the connection, not the command.
        new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, CommandFlags.None, "auth", Server("WRONGPASS invalid username-password pair"), CommandStatus.Unknown),
        new InvalidOperationException("FusionCache failed", Server("LOADING Redis is loading the dataset in memory")),
        new AggregateException(Server("WRONGTYPE x"), new RedisConnectionException(ConnectionFailureType.SocketClosed, CommandFlags.None, "closed", null, CommandStatus.Unknown)),
    };

    [Theory]
    [MemberData(nameof(Unavailable))]
    public void A_connection_error_a_timeout_or_an_open_circuit_is_transient_and_no_refusal(Exception error)
    {
        Assert.True(Errors.IsTransient(error));
        Assert.False(Errors.IsRefusal(error, out _));
    }

    public static TheoryData<Exception> Permanent => new()
    {
        new RedisCommandException("Command cannot be issued to a replica: UNLINK"),
        new InvalidCastException("Unable to cast object"),
        new ArgumentException("a bug"),
        new InvalidOperationException("FusionCache failed", Server("WRONGTYPE Operation against a key holding the wrong kind of value")),
    };

    [Theory]
    [MemberData(nameof(Permanent))]
    public void Anything_else_is_not_transient(Exception error) => Assert.False(Errors.IsTransient(error));

    [Fact]
    public void The_clients_kind_of_a_passing_state_counts_too()
    {
        var error = new RedisServerException(RedisErrorKind.MaxClients, CommandFlags.None, "ERR max number of clients reached");
        Assert.True(Errors.IsTransient(error));
        Assert.False(Errors.IsRefusal(error, out _));
    }

    [Fact]
    public void A_wrapped_server_refusal_is_found_with_its_line()
    {
        Assert.True(Errors.IsRefusal(new InvalidOperationException("outer", Server("WRONGTYPE Operation")), out var reason));
        Assert.Equal("WRONGTYPE Operation", reason);
        Assert.False(Errors.IsRefusal(new InvalidCastException("no server error"), out _));
    }

    /// <summary>
    /// Generated error lines: whatever follows the first word, and whatever the word, the class is the word's. Every code
    /// outside the passing states is a refusal, and no line is both transient and a refusal.
    /// </summary>
    [Fact]
    public void The_first_word_alone_decides_for_any_error_line()
    {
        string[] passing = ["LOADING", "BUSY", "READONLY", "MASTERDOWN", "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "MISCONF", "OOM", "NOAUTH", "WRONGPASS"];
        string[] other = ["WRONGTYPE", "ERR", "CROSSSLOT", "NOPERM", "EXECABORT", "NOSCRIPT", "UNBLOCKED", "BUSYKEY", "LOADINGX", "ASKING", "readonly", "Moved"];
        var random = new Random(17);
        const string alphabet = "abcXYZ 019'-_:\t.LOADINGBUSYMOVED";
        for (var i = 0; i < 5000; i++)
        {
            var transient = random.Next(2) == 0;
            var code = transient ? passing[random.Next(passing.Length)] : other[random.Next(other.Length)];
            var tail = new string(Enumerable.Range(0, random.Next(0, 40)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var line = tail.Length == 0 ? code : code + " " + tail;
            var error = Server(line);
            Assert.Equal(transient, Errors.IsTransient(error));
            Assert.Equal(!transient, Errors.IsRefusal(error, out var reason));
            Assert.Equal(transient ? "" : line, transient ? "" : reason);
        }
    }

    // The kind left unknown, so the line alone decides.
    private static RedisServerException Server(string line) => new(RedisErrorKind.Unknown, CommandFlags.None, line);

    [Fact]
    public void A_missing_acknowledgement_is_a_transient_Redis_error()
    {
        var error = new ReplicasNotAcknowledgedException("127.0.0.1:6379", 0, 1, TimeSpan.FromSeconds(1));

        Assert.True(RedisErrorClassifier.Default.IsTransient(error));
        Assert.False(RedisErrorClassifier.Default.IsRefusal(error, out _));
        Assert.Equal("WAIT on 127.0.0.1:6379: 0 of 1 replica(s) acknowledged the deletes within 1000 ms", error.Message);
    }
}
