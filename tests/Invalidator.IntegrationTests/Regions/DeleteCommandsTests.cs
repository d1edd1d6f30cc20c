using Invalidator.Client;
using Invalidator.Client.Tests;
using Invalidator.Worker.Regions.Targets;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>How the region invalidator cuts names into delete commands (no server: the commands it would send).</summary>
public sealed class DeleteCommandsTests
{
    private static List<List<string>> Commands(Dictionary<string, bool> names, int keysPerCommand, Func<RedisKey, int>? slotOf = null) =>
        RedisTarget.DeleteCommands(names, keysPerCommand, slotOf).Select(c => c.Select(k => ((RedisKey)k).ToString()).ToList()).ToList();

    [Fact]
    public void A_key_and_its_lease_key_are_never_split_between_commands()
    {
        var names = Enumerable.Range(0, 50).ToDictionary(i => $"k{i}", i => i % 3 != 0);
        foreach (var limit in new[] { 1, 2, 3, 4, 7, 500 })
        {
            var commands = Commands(names, limit);
            foreach (var (key, withLease) in names)
            {
                var command = Assert.Single(commands, c => c.Contains(key));
                Assert.Equal(withLease, command.Contains(LeaseProtocol.LeaseKey(key)));
            }

            // The limit holds, except that a pair is kept whole when the limit is 1.
            Assert.All(commands, c => Assert.True(c.Count <= Math.Max(limit, 2), $"{c.Count} names with a limit of {limit}"));
            Assert.Equal(names.Count + names.Count(n => n.Value), commands.Sum(c => c.Count));
        }
    }

    [Fact]
    public void On_a_cluster_every_command_stays_in_one_slot_with_the_lease_keys()
    {
        var names = Enumerable.Range(0, 400).ToDictionary(i => $"customer:{i}", _ => true);
        names["user:{42}:profile"] = true;
        names["user:{42}:orders"] = false;
        var commands = Commands(names, keysPerCommand: 9, key => ClusterSlot.Of(key!));

        Assert.All(commands, c => Assert.Single(c.Select(ClusterSlot.Of).Distinct()));
        Assert.Contains(commands, c => c.Contains("user:{42}:profile") && c.Contains("user:{42}:profile:lease") && c.Contains("user:{42}:orders"));
        Assert.True(commands.Select(c => ClusterSlot.Of(c[0])).Distinct().Count() > 300, "400 keys spread over hundreds of slots");
    }

    [Fact]
    public void A_key_whose_braces_form_no_hash_tag_is_deleted_alone()
    {
        var commands = Commands(new Dictionary<string, bool> { ["odd:{7"] = true, ["odd}7"] = true, ["even:7"] = true }, 500);

        Assert.Equal([["odd:{7", "odd}7", "even:7", "{even:7}:lease"]], commands);
    }

    [Fact]
    public void Without_leases_the_commands_are_the_keys_in_chunks()
    {
        var names = Enumerable.Range(0, 10).ToDictionary(i => $"k{i}", _ => false);

        Assert.Equal([4, 4, 2], Commands(names, 4).Select(c => c.Count));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Names_before_the_region_s_prefix_give_the_commands_of_the_prefixed_names(bool cluster)
    {
        // The target keeps names unprefixed and sends the prefix's bytes beside each; lease keys come from the prefixed name.
        const string keyPrefix = "eu:";
        var names = Enumerable.Range(0, 60).ToDictionary(i => i % 5 == 0 ? $"user:{{{i}}}:profile" : $"customer:{i}", i => i % 3 != 0);
        names["odd:{7"] = true;
        Func<RedisKey, int>? slotOf = cluster ? key => ClusterSlot.Of(key!) : null;
        var expected = Commands(names.ToDictionary(n => keyPrefix + n.Key, n => n.Value), keysPerCommand: 7, slotOf);

        var actual = RedisTarget.DeleteCommands(names, keyPrefix, RedisTarget.Prefix(keyPrefix), 7, slotOf)
            .Select(c => c.Select(k => ((RedisKey)k).ToString()).ToList()).ToList();

        Assert.Equal(expected, actual);
        Assert.Contains(actual, c => c.Contains("{eu:customer:1}:lease") && c.Contains("eu:customer:1"));
    }

    /// <summary>
    /// Over many generated name sets (hash-tagged and plain names, odd braces, leases on some, a prefix or none, a limit from
    /// 1 to 12, cluster or not): the commands are exactly those of grouping by slot in order of first appearance and cutting
    /// each group at the limit, the way the target built them before it stopped using LINQ. Each name is sent once, with its
    /// lease key in its own command.
    /// </summary>
    [Fact]
    public void Generated_name_sets_give_the_commands_of_grouping_by_slot_and_cutting_at_the_limit()
    {
        var random = new Random(2112);
        for (var round = 0; round < 400; round++)
        {
            var names = new Dictionary<string, bool>();
            var count = random.Next(0, 80);
            for (var i = 0; i < count; i++)
            {
                var id = random.Next(0, 60);
                var name = random.Next(4) switch
                {
                    0 => $"user:{{{id % 7}}}:n{id}",
                    1 => $"odd:{{{id}",
                    2 => $"customer:{id}",
                    _ => $"customer:email:user{id}@example.com",
                };
                names[name] = random.Next(2) == 0;
            }

            var keyPrefix = random.Next(2) == 0 ? "" : "eu:";
            var limit = random.Next(1, 13);
            Func<RedisKey, int>? slotOf = random.Next(2) == 0 ? key => ClusterSlot.Of(key!) : null;

            var actual = RedisTarget.DeleteCommands(names, keyPrefix, RedisTarget.Prefix(keyPrefix), limit, slotOf)
                .Select(c => c.Select(k => ((RedisKey)k).ToString()).ToList()).ToList();

            Assert.Equal(Reference(names, keyPrefix, limit, slotOf), actual);
            foreach (var (name, withLease) in names)
            {
                var command = Assert.Single(actual, c => c.Contains(keyPrefix + name));
                if (withLease && LeaseProtocol.TryGetLeaseKey(keyPrefix + name, out var lease))
                {
                    Assert.Contains(lease, command);
                }
            }
        }
    }

    /// <summary>The commands as the target built them before (LINQ's GroupBy: slots in order of first appearance).</summary>
    private static List<List<string>> Reference(Dictionary<string, bool> names, string keyPrefix, int limit, Func<RedisKey, int>? slotOf)
    {
        IEnumerable<IEnumerable<KeyValuePair<string, bool>>> groups = slotOf is null ? [names] : names.GroupBy(n => slotOf(keyPrefix + n.Key));
        var commands = new List<List<string>>();
        var command = new List<string>();
        foreach (var group in groups)
        {
            foreach (var (name, withLease) in group)
            {
                var lease = withLease && LeaseProtocol.TryGetLeaseKey(keyPrefix + name, out var leaseKey) ? leaseKey : null;
                if (command.Count > 0 && command.Count + (lease is null ? 1 : 2) > limit)
                {
                    commands.Add(command);
                    command = [];
                }

                command.Add(keyPrefix + name);
                if (lease is not null)
                {
                    command.Add(lease);
                }
            }

            if (command.Count > 0)
            {
                commands.Add(command);
                command = [];
            }
        }

        return commands;
    }
}
