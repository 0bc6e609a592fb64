using System.Collections.Concurrent;
using StoreLink.Server.Data;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Data;

public sealed class IdsTests
{
    [Fact]
    public async Task Ids_are_unique_across_threads_and_sort_by_time()
    {
        // Random bytes are handed out from a buffer per thread: no two ids may share them, on one thread or many.
        var ids = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
                ids.Add(Ids.New("msg"));
        })));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^msg_[0-9A-HJKMNP-TV-Z]{26}$", id));
        // The random part is not all zeros (a buffer handed out without being filled would be).
        Assert.DoesNotContain(ids, id => id.EndsWith("0000000000000000"));

        var clock = new TestClock();
        var earlier = Ids.New("msg", clock);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(string.CompareOrdinal(earlier, Ids.New("msg", clock)) < 0);
    }
}
