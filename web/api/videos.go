package api

import (
	"context"
	"time"

	"github.com/chobilive/chobi/store"
	"github.com/chobilive/chobi/web/trpc"
)

type uploadVideoInput struct {
	Title       string   `json:"title"`
	Description string   `json:"description" ts:"optional"`
	Category    string   `json:"category"`
	Tags        []string `json:"tags" ts:"optional"`
	VideoURL    string   `json:"videoUrl"`
	Duration    float64  `json:"duration"`
}

func (in *uploadVideoInput) Validate(f *trpc.Fields) {
	checkText(f, "title", in.Title, 1, 100, true)
	checkText(f, "description", in.Description, 0, 2000, false)
	checkText(f, "category", in.Category, 1, 50, true)
	if len(in.Tags) > 20 {
		f.Add("tags", "must have at most 20 tags")
	}
	for _, t := range in.Tags {
		if msg := tagProblem(t); msg != "" {
			f.Add("tags", msg)
			break
		}
	}
	checkURL(f, "videoUrl", in.VideoURL)
	if in.Duration <= 0 || in.Duration > 24*3600 || in.Duration != float64(int(in.Duration)) {
		f.Add("duration", "must be a whole number of seconds between 1 and 86400")
	}
}

func tagProblem(t string) string {
	var f trpc.Fields
	checkText(&f, "tag", t, 1, 30, true)
	if err := f.Err(); err != nil {
		return "each tag " + err.(*trpc.Error).FieldErrors["tag"][0]
	}
	return ""
}

type getVideosInput struct {
	Category *string `json:"category"`
	SortBy   string  `json:"sortBy" ts:"optional,enum=recent|popular|trending"`
	Limit    *int    `json:"limit"`
	Cursor   *string `json:"cursor"`
}

func (in *getVideosInput) Validate(f *trpc.Fields) {
	if in.SortBy == "" {
		in.SortBy = store.SortRecent
	}
	checkEnum(f, "sortBy", in.SortBy, store.SortRecent, store.SortPopular, store.SortTrending)
	if in.Limit == nil {
		n := 20
		in.Limit = &n
	}
	checkLimit(f, *in.Limit)
	if in.Category != nil && len(*in.Category) > 50 {
		f.Add("category", "must be at most 50 characters")
	}
}

type videoIDInput struct {
	VideoID string `json:"videoId"`
}

func (in *videoIDInput) Validate(f *trpc.Fields) { checkRequired(f, "videoId", in.VideoID) }

type videoOutput struct {
	ID          string    `json:"id"`
	OwnerID     string    `json:"ownerId"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	Tags        []string  `json:"tags"`
	VideoURL    string    `json:"videoUrl"`
	Duration    int       `json:"duration"`
	Views       int64     `json:"views"`
	Likes       int64     `json:"likes"`
	CreatedAt   time.Time `json:"createdAt"`
}

func videoOf(v store.Video) videoOutput {
	return videoOutput{ID: v.ID, OwnerID: v.OwnerID, Title: v.Title, Description: v.Description, Category: v.Category,
		Tags: v.Tags, VideoURL: v.VideoURL, Duration: v.Duration, Views: v.Views, Likes: v.Likes, CreatedAt: v.CreatedAt}
}

type videoPage struct {
	Videos     []videoOutput `json:"videos"`
	NextCursor *string       `json:"nextCursor"`
}

type videoCounts struct {
	VideoID string `json:"videoId"`
	Views   int64  `json:"views,omitempty"`
	Likes   int64  `json:"likes"`
}

func (a *API) registerVideos(r *trpc.Router) {
	trpc.Mutation(r, "videos.uploadVideo", a.uploadVideo)
	// Not public: PROTOCOL.md marks only auth.*, getActiveSessions and
	// getAvailableGifts so (a guest token is one call away).
	trpc.Query(r, "videos.getVideos", a.getVideos)
	trpc.Query(r, "videos.getVideo", a.getVideo)
	trpc.Mutation(r, "videos.recordView", a.recordView)
	trpc.Mutation(r, "videos.like", a.likeVideo)
	trpc.Mutation(r, "videos.unlike", a.unlikeVideo)
}

func (a *API) uploadVideo(ctx context.Context, in uploadVideoInput) (videoOutput, error) {
	v, err := a.Store.AddVideo(ctx, store.Video{
		OwnerID: caller(ctx), Title: in.Title, Description: in.Description, Category: in.Category,
		Tags: in.Tags, VideoURL: in.VideoURL, Duration: int(in.Duration),
	})
	if err != nil {
		return videoOutput{}, err
	}
	return videoOf(v), nil
}

func (a *API) getVideos(ctx context.Context, in getVideosInput) (videoPage, error) {
	f := store.VideoFilter{SortBy: in.SortBy, Limit: *in.Limit}
	if in.Category != nil {
		f.Category = *in.Category
	}
	if in.Cursor != nil {
		f.Cursor = *in.Cursor
	}
	list, next, err := a.Store.Videos(ctx, f)
	if err != nil {
		return videoPage{}, err
	}
	page := videoPage{Videos: make([]videoOutput, len(list))}
	for i, v := range list {
		page.Videos[i] = videoOf(v)
	}
	if next != "" {
		page.NextCursor = &next
	}
	return page, nil
}

func (a *API) getVideo(ctx context.Context, in videoIDInput) (videoOutput, error) {
	v, err := a.Store.VideoByID(ctx, in.VideoID)
	if err != nil {
		return videoOutput{}, err
	}
	return videoOf(v), nil
}

func (a *API) recordView(ctx context.Context, in videoIDInput) (videoCounts, error) {
	views, err := a.Store.RecordView(ctx, in.VideoID)
	if err != nil {
		return videoCounts{}, err
	}
	v, err := a.Store.VideoByID(ctx, in.VideoID)
	return videoCounts{VideoID: in.VideoID, Views: views, Likes: v.Likes}, err
}

func (a *API) likeVideo(ctx context.Context, in videoIDInput) (videoCounts, error) {
	likes, err := a.Store.SetLike(ctx, caller(ctx), in.VideoID, true)
	return videoCounts{VideoID: in.VideoID, Likes: likes}, err
}

func (a *API) unlikeVideo(ctx context.Context, in videoIDInput) (videoCounts, error) {
	likes, err := a.Store.SetLike(ctx, caller(ctx), in.VideoID, false)
	return videoCounts{VideoID: in.VideoID, Likes: likes}, err
}
