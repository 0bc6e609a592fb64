using System.Net;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Web;

/// <summary>The front-end's embedded files: the console's, the widget's and the modules both share, served one way.</summary>
public sealed class AssetTests
{
    [Fact]
    public async Task Console_widget_and_shared_files_are_served_alike_and_revalidated_by_etag()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var http = app.Anonymous();
        foreach (var path in new[] { "/console/assets/js/inbox.js", "/widget/app.js", "/widget.js", "/assets/shared/socket.js", "/assets/shared/dom.js" })
        {
            var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/javascript", response.Content.Headers.ContentType!.MediaType);
            Assert.True(response.Headers.CacheControl!.NoCache, path);
            Assert.Equal("*", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
            using var again = new HttpRequestMessage(HttpMethod.Get, path);
            again.Headers.IfNoneMatch.Add(response.Headers.ETag!);
            Assert.Equal(HttpStatusCode.NotModified, (await http.SendAsync(again)).StatusCode);
        }
        Assert.Equal("application/json", (await http.GetAsync("/console/assets/i18n/en.json")).Content.Headers.ContentType!.MediaType);
        // The chat page's template is served filled in, at /chat/{store_key}, never as it is.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/widget/chat.html")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/assets/shared/nothing.js")).StatusCode);
    }
}
