using Invalidator.Worker.Diagnostics;

namespace Invalidator.Worker.Tests.Diagnostics;

/// <summary>The lag in seconds: the oldest waiting change's age, 0 when nothing waits (never now minus the last applied commit).</summary>
public sealed class SourceLagTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Nothing_waiting_is_0_however_old_the_last_applied_commit()
    {
        Assert.Equal(0, SourceLag.Seconds(Now, oldestUnapplied: null, unreadWaiting: false, lastAppliedCommit: Now - TimeSpan.FromHours(3)));
        Assert.Equal(0, SourceLag.Seconds(Now, oldestUnapplied: null, unreadWaiting: false, lastAppliedCommit: null));
    }

    [Fact]
    public void A_waiting_change_gives_its_age()
    {
        Assert.Equal(7.5, SourceLag.Seconds(Now, Now - TimeSpan.FromSeconds(7.5), unreadWaiting: false, lastAppliedCommit: Now - TimeSpan.FromHours(3)));
        // Read changes are known exactly: an unread backlog behind them is younger.
        Assert.Equal(7.5, SourceLag.Seconds(Now, Now - TimeSpan.FromSeconds(7.5), unreadWaiting: true, lastAppliedCommit: Now - TimeSpan.FromHours(3)));
    }

    [Fact]
    public void Unread_changes_are_bounded_by_the_newest_applied_commit_and_unknown_without_one()
    {
        Assert.Equal(90, SourceLag.Seconds(Now, null, unreadWaiting: true, lastAppliedCommit: Now - TimeSpan.FromSeconds(90)));
        Assert.Null(SourceLag.Seconds(Now, null, unreadWaiting: true, lastAppliedCommit: null));
    }

    [Fact]
    public void A_commit_time_ahead_of_the_clock_is_skew_not_negative_lag()
    {
        Assert.Equal(0, SourceLag.Seconds(Now, Now + TimeSpan.FromSeconds(2), unreadWaiting: false, lastAppliedCommit: null));
        Assert.Equal(0, SourceLag.Seconds(Now, null, unreadWaiting: true, lastAppliedCommit: Now + TimeSpan.FromSeconds(2)));
    }
}
