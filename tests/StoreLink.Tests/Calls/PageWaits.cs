using Microsoft.Playwright;

namespace StoreLink.Tests.Calls;

public static class PageWaits
{
    /// <summary>
    /// Polls an async predicate (one that awaits <c>getStats()</c>) in the page until it holds. Playwright's
    /// <c>WaitForFunctionAsync</c> does not await what its predicate returns: a promise is truthy, so it returned at once.
    /// </summary>
    public static async Task UntilAsync(this IPage page, string asyncPredicate, string what, int timeoutMs = 60_000)
    {
        var held = await page.EvaluateAsync<bool>($$"""
            async timeout => {
              const holds = {{asyncPredicate}};
              for (const deadline = Date.now() + timeout; Date.now() < deadline; await new Promise(ok => setTimeout(ok, 100)))
                if (await holds()) return true;
              return false;
            }
            """, timeoutMs);
        Assert.True(held, $"The page waited {timeoutMs} ms for {what}.");
    }
}
